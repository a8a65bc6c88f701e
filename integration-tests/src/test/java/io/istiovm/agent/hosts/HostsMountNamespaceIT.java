package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.HostsMountNamespace;
import io.istiovm.agent.testing.JavaProcess;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged agent against /etc/hosts in mount namespaces where it is a bind-mounted temporary file (the rename
 * fails with EBUSY there, so this is also the in-place path), checked with glibc's own resolver ({@code getent}).
 * The machine's real /etc/hosts is compared before and after every test.
 */
class HostsMountNamespaceIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Path REAL_HOSTS = Path.of("/etc/hosts");

    private byte[] realHostsBefore;
    private Path config;
    private HostsMountNamespace namespace;
    private final String original = HostsScratch.TYPICAL_HOSTS;

    @BeforeEach
    void setUp() throws IOException {
        realHostsBefore = Files.readAllBytes(REAL_HOSTS);
        config = Files.createTempDirectory("hosts-it-config");
        Files.writeString(config.resolve("cluster.env"), "VM_AGENT_GATEWAY_ADDRESS=192.168.99.1\n"
                + "VM_AGENT_HOSTS_VERIFY_INTERVAL=1s\n");
        Files.createDirectories(config.resolve("hosts.d"));
        Files.writeString(config.resolve("hosts.d/httpbin-bar-forvms.yaml"),
                HostsGoldenTest.manifest("httpbin-bar-forvms.yaml"));
        namespace = HostsMountNamespace.create(original);
    }

    @AfterEach
    void tearDown() throws IOException {
        namespace.close();
        try (Stream<Path> paths = Files.walk(config)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
        assertThat(Files.readAllBytes(REAL_HOSTS)).as("the machine's /etc/hosts").isEqualTo(realHostsBefore);
    }

    /** A shell command that runs the packaged agent's {@code hosts SUBCOMMAND} on the test's configuration. */
    private String agent(String subcommand) {
        return shell(AgentProcess.command("hosts", subcommand, "--config-dir", config.toString()));
    }

    private static String shell(List<String> command) {
        return String.join(" ", command.stream().map(word -> "'" + word.replace("'", "'\\''") + "'").toList());
    }

    private String hosts() throws IOException {
        return Files.readString(namespace.hostsFile(), StandardCharsets.UTF_8);
    }

    @Test
    void applyThenCleanAsGlibcSeesIt() throws Exception {
        HostsMountNamespace.Result applied = namespace.run(agent("apply")
                + " && getent hosts httpbin.bar.global istio-pilot", TIMEOUT);
        assertThat(applied.code()).as(applied.err()).isZero();
        assertThat(applied.out()).isEqualTo("/etc/hosts: written in place (it is a mount point and cannot be "
                + "replaced by rename)\n127.255.0.3     httpbin.bar.global\n"
                + "192.168.99.1    istio-citadel istio-pilot istio-pilot.istio-system istiod.istio-system.svc\n");
        assertThat(hosts()).startsWith(HostsBlock.BEGIN).endsWith(original);

        HostsMountNamespace.Result cleaned = namespace.run(agent("clean")
                + " && { getent hosts httpbin.bar.global; echo \"getent exit $?\"; }", TIMEOUT);
        assertThat(cleaned.code()).as(cleaned.err()).isZero();
        assertThat(cleaned.out()).endsWith("/etc/hosts: written in place (it is a mount point and cannot be "
                + "replaced by rename)\ngetent exit 2\n");
        assertThat(hosts()).isEqualTo(original);
    }

    @Test
    void theRunningWatcherPicksUpSourcesAndRepairsDrift() throws Exception {
        Process watcher = namespace.builder("exec " + agent("watch"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        try {
            Await.until("block applied", TIMEOUT, () -> read().contains("127.255.0.3 httpbin.bar.global "),
                    this::read);
            Files.writeString(config.resolve("hosts.d/.new.tmp"), "127.255.0.7 more.bar.global\n");
            Files.move(config.resolve("hosts.d/.new.tmp"), config.resolve("hosts.d/more.hosts"));
            Await.until("new source applied", TIMEOUT, () -> read().contains("127.255.0.7 more.bar.global "),
                    this::read);
            HostsMountNamespace.Result resolved = HostsMountNamespace.enter(watcher.pid(), TIMEOUT,
                    "getent", "hosts", "more.bar.global");
            assertThat(resolved.out()).isEqualTo("127.255.0.7     more.bar.global\n");

            String good = read();
            Files.writeString(namespace.hostsFile(), good.replace("127.255.0.3 httpbin", "10.6.6.6 httpbin"));
            Await.until("drift repaired", TIMEOUT, () -> read().equals(good), this::read);
        } finally {
            watcher.destroy();
            assertThat(watcher.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(hosts()).as("SIGTERM removes the block").isEqualTo(original);
    }

    @Test
    void aWriterKilledDuringAnInPlaceRewriteIsFinishedByTheNextStart() throws Exception {
        HostsFileContent outside = HostsFileContent.parse(namespace.hostsFile(), original.getBytes(
                StandardCharsets.UTF_8));
        byte[] small = outside.withBlock(HostsBlock.of(List.of()));
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 600; i++) {
            many.append("127.255.").append(i / 250).append('.').append(i % 250 + 1).append(" svc-").append(i)
                    .append(".global\n");
        }
        Files.writeString(config.resolve("hosts.d/many.hosts"), many);
        byte[] large = HostsPlanner.apply(HostsSettings.sourcesOnly(config, namespace.hostsFile(),
                Duration.ofSeconds(30))).desired();
        Path fileA = Files.write(config.resolve("a"), small);
        Path fileB = Files.write(config.resolve("b"), large);
        String loop = shell(JavaProcess.command(HostsWriterLoop.class, "/etc/hosts", fileA.toString(),
                fileB.toString()));
        String recover = shell(JavaProcess.command(HostsWriterLoop.class, "--recover", "/etc/hosts"));
        Random random = new Random(4);
        int sawSmall = 0;
        for (int i = 0; i < 30; i++) {
            Process writer = namespace.builder("exec " + loop).redirectErrorStream(true).start();
            JavaProcess.Running running = new JavaProcess.Running(writer, new BufferedReader(
                    new InputStreamReader(writer.getInputStream(), StandardCharsets.UTF_8)));
            running.awaitLine("ready");
            running.awaitLines(line -> line.startsWith("wrote "), random.nextInt(4));
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(random.nextInt(5_000)));
            writer.destroyForcibly();
            assertThat(writer.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(namespace.run("exec " + recover, TIMEOUT).code()).isZero();
            byte[] after = Files.readAllBytes(namespace.hostsFile());
            assertThat(after).as("after kill %d and recovery", i).matches(
                    a -> Arrays.equals(a, small) || Arrays.equals(a, large), "the old or the new complete file");
            sawSmall += Arrays.equals(after, small) ? 1 : 0;
        }
        assertThat(sawSmall).as("kills landed at different points of the cycle").isBetween(1, 29);
    }

    private String read() {
        try {
            return hosts();
        } catch (IOException e) {
            return e.toString();
        }
    }
}
