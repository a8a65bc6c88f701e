package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.istiovm.agent.logging.AgentLogging;
import io.istiovm.agent.logging.JournalFields;
import io.istiovm.agent.logging.LogEntry;
import io.istiovm.agent.logging.PlainLines;
import io.istiovm.agent.testing.SecretMaterial;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.slf4j.event.Level;

/**
 * No key material, token or CSR ever reaches a log: runs the rotation and enrolment tests inside this one with a
 * capture that sees every line at every level (AgentLogging.capture), then looks for PEM headers and for the real
 * material in every line as the journal and stderr would get it. The material is what the fixtures made or saw
 * (SecretMaterial: test PKI keys, CSRs and chains through the test CA, tokens) and every PEM block and token file
 * the tests left in their temporary directories (made here, kept until the scan: the agent's own private keys).
 */
class LogSecretsTest {
    private static final List<String> TESTS = List.of("io.istiovm.agent.ca.IdentityComponentTest",
            "io.istiovm.agent.ca.RenewalTest", "io.istiovm.agent.ca.RotatorTest", "io.istiovm.agent.ca.CaClientTest",
            "io.istiovm.agent.cli.SeedIdentityTest", "io.istiovm.agent.cli.CertsCommandTest");
    private static final Pattern PEM = Pattern.compile("-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----",
            Pattern.DOTALL);
    /** A leaked run of this many base64 characters of real material counts. */
    private static final int WINDOW = 40;

    /** Temporary directories of the inner tests, under one root that this test scans and removes. */
    public static final class KeptTempDirs implements TempDirFactory {
        static volatile Path root;

        @Override
        public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext context)
                throws IOException {
            return Files.createTempDirectory(root, "t");
        }
    }

    @Test
    void noLogLineOfTheRotationAndEnrolmentTestsHoldsKeyMaterialTokensOrCsrs() throws Exception {
        KeptTempDirs.root = Files.createTempDirectory("log-secrets");
        List<LogEntry> entries = new CopyOnWriteArrayList<>();
        AgentLogging.bridgeJavaUtilLogging(); // as the daemon does: gRPC's own lines count too
        TestExecutionSummary summary;
        try {
            try (AutoCloseable capture = AgentLogging.capture(entries::add)) {
                summary = run();
            }
            assertThat(summary.getTotalFailureCount()).as("the inner tests' failures: %s",
                    summary.getFailures()).isZero();
            assertThat(summary.getTestsSucceededCount()).isGreaterThan(40);

            List<String> material = new ArrayList<>(SecretMaterial.seen());
            material.addAll(leftInTempDirs(KeptTempDirs.root));
            Set<String> windows = windows(material);
            Set<String> tokens = tokens(material);
            assertThat(windows).as("base64 windows of the material").hasSizeGreaterThan(100);
            assertThat(tokens).as("tokens used").contains("s3cret", "t0ken");

            List<String> lines = entries.stream().map(LogSecretsTest::render).toList();
            assertThat(lines).as("lines logged by the inner tests").hasSizeGreaterThan(50);
            assertThat(leaks(lines, windows, tokens)).isEmpty();

            // The check itself can fail: a line with a piece of a real certificate or the token is caught.
            String certificate = SecretMaterial.seen().stream().filter(m -> m.contains("BEGIN CERTIFICATE"))
                    .findFirst().orElseThrow();
            String body = base64(certificate).get(0);
            assertThat(leaks(List.of(render(line("issued " + body.substring(10, 10 + WINDOW + 20)))), windows,
                    tokens)).hasSize(1);
            assertThat(leaks(List.of(render(line("token s3cret"))), windows, tokens)).hasSize(1);
            assertThat(leaks(List.of(render(line("-----BEGIN PRIVATE KEY-----"))), windows, tokens)).hasSize(1);
        } finally {
            delete(KeptTempDirs.root);
        }
    }

    private static TestExecutionSummary run() {
        LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request()
                .configurationParameter("junit.jupiter.tempdir.factory.default", KeptTempDirs.class.getName())
                .configurationParameter("junit.jupiter.tempdir.cleanup.mode.default", "never");
        TESTS.forEach(name -> request.selectors(selectClass(name)));
        LauncherDiscoveryRequest built = request.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(built, listener);
        return listener.getSummary();
    }

    /** A line as both sinks would write it: the plain line and the journal datagram. */
    private static String render(LogEntry entry) {
        return PlainLines.format(entry) + "\n" + new String(JournalFields.of(entry).encode(), StandardCharsets.UTF_8);
    }

    private static LogEntry line(String message) {
        return new LogEntry(Instant.EPOCH, Level.INFO, "x", "t", message, List.of(), Map.of(), Optional.empty(),
                Optional.empty());
    }

    private static List<String> leaks(List<String> lines, Set<String> windows, Set<String> tokens) {
        List<String> leaks = new ArrayList<>();
        for (String line : lines) {
            if (line.contains("-----BEGIN")) {
                leaks.add("PEM header: " + line);
                continue;
            }
            tokens.stream().filter(line::contains).findFirst().ifPresent(t -> leaks.add("token " + t + ": " + line));
            if (windows.stream().anyMatch(line::contains)) {
                leaks.add("base64 of real material: " + line);
            }
        }
        return leaks;
    }

    /** Windows of WINDOW characters at every WINDOW/2 of each material's base64: a leak of 60 holds one. */
    private static Set<String> windows(List<String> material) {
        Set<String> windows = new LinkedHashSet<>();
        for (String m : material) {
            for (String body : base64(m)) {
                for (int i = 0; i + WINDOW <= body.length(); i += WINDOW / 2) {
                    String window = body.substring(i, i + WINDOW);
                    // The oversized-answer fault's filler ("AAAA...") is no secret.
                    if (!window.chars().allMatch(c -> c == window.charAt(0))) {
                        windows.add(window);
                    }
                }
            }
        }
        return windows;
    }

    /** The base64 bodies of a PEM text, or the material itself when it is bare base64. */
    private static List<String> base64(String material) {
        List<String> bodies = new ArrayList<>();
        Matcher m = PEM.matcher(material);
        while (m.find()) {
            bodies.add(m.group(1).replaceAll("\\s", ""));
        }
        if (bodies.isEmpty() && material.matches("[A-Za-z0-9+/=]{" + WINDOW + ",}")) {
            bodies.add(material);
        }
        return bodies;
    }

    /** The material that is neither PEM nor base64: tokens. */
    private static Set<String> tokens(List<String> material) {
        Set<String> tokens = new LinkedHashSet<>();
        for (String m : material) {
            if (base64(m).isEmpty() && !m.contains("-----")) {
                tokens.add(m.strip());
            }
        }
        return tokens;
    }

    /** PEM files and token files the inner tests left. */
    private static List<String> leftInTempDirs(Path root) throws IOException {
        List<String> material = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : files.filter(f -> Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)).toList()) {
                if (Files.size(file) > 1 << 20) {
                    continue;
                }
                String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
                if (text.contains("-----BEGIN")) {
                    material.add(text);
                } else if (file.getFileName().toString().contains("token") && !text.isBlank()) {
                    material.add(text.strip());
                }
            }
        }
        return material;
    }

    private static void delete(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
