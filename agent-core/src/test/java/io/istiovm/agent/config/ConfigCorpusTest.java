package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every directory under {@code config-corpus/} is one configuration directory (cluster.env, optionally
 * sidecar.env and an {@code environment} file standing in for the process environment) and its
 * {@code expected.txt}: the exact exit code and standard error of {@code istio-vm-agent check}, plus standard
 * output for the valid cases. {@code ${dir}} stands for the directory's path.
 * Run with {@code -Dupdate.goldens=true} to rewrite the expectations after a deliberate change, then review the diff.
 */
class ConfigCorpusTest {
    private static final String EXPECTED = "expected.txt";

    @TempDir
    Path temp;

    @TestFactory
    Stream<DynamicTest> everyCorpusCaseGivesExactlyTheExpectedMessagesAndExitCode() throws Exception {
        Path corpus = corpusDirectory();
        List<Path> cases;
        try (Stream<Path> list = Files.list(corpus)) {
            cases = list.filter(Files::isDirectory).sorted().toList();
        }
        assertThat(cases.stream().filter(c -> !c.getFileName().toString().startsWith("valid-")).count())
                .as("bad-input cases in the corpus").isGreaterThanOrEqualTo(30);
        return cases.stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir)));
    }

    private static void check(Path dir) throws IOException {
        Map<String, String> environment = readEnvironment(dir.resolve("environment"));
        CliRun run = CliRun.run(environment, "check", "--config-dir", dir.toString());
        String actual = render(run, dir, dir.getFileName().toString().startsWith("valid-"));
        Path expectedFile = sourceTree(dir).resolve(EXPECTED);
        if (Boolean.getBoolean("update.goldens")) {
            Files.writeString(expectedFile, actual);
            return;
        }
        assertThat(actual).as(dir.getFileName() + "\n" + run).isEqualTo(Files.readString(dir.resolve(EXPECTED)));
        if (run.exitCode() != 0) {
            // The loader refuses this input, so run stops before any component is built: run, its dry run and
            // check all say the same and exit alike. (Bad input that only the host reveals: RunDryRunParityIT.)
            for (List<String> command : List.of(List.of("run", "--dry-run"), List.of("run"))) {
                List<String> args = new java.util.ArrayList<>(command);
                args.addAll(List.of("--config-dir", dir.toString()));
                CliRun other = CliRun.run(environment, args.toArray(String[]::new));
                assertThat(other.exitCode()).as(String.join(" ", command) + ": " + other).isEqualTo(run.exitCode());
                assertThat(other.err()).as(String.join(" ", command)).isEqualTo(run.err());
            }
        }
    }

    @Test
    void tenMegabyteFileIsRefusedWithoutReadingIt() throws IOException {
        Path cluster = temp.resolve("cluster.env");
        byte[] line = "ISTIO_META_PADDING=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                .getBytes(StandardCharsets.US_ASCII);
        try (OutputStream out = Files.newOutputStream(cluster)) {
            for (long written = 0; written < 10L * 1024 * 1024; written += line.length) {
                out.write(line);
            }
        }
        long size = Files.size(cluster);
        CliRun run = CliRun.run(Map.of(), "check", "--config-dir", temp.toString());
        assertThat(run.exitCode()).isEqualTo(78);
        assertThat(run.err()).isEqualTo("error: " + cluster + ": cannot be read: is " + size + " bytes, more than the "
                + "1048576 allowed\nconfiguration is invalid: 1 error\n");
    }

    @Test
    void unreadableFileIsReportedAsSuch() throws IOException {
        Path cluster = Files.writeString(temp.resolve("cluster.env"), "ISTIO_INBOUND_PORTS=8080\n");
        // Root reads anything, so make it unreadable the way root also fails: a dangling symlink.
        Files.delete(cluster);
        Files.createSymbolicLink(cluster, temp.resolve("gone.env"));
        CliRun run = CliRun.run(Map.of(), "check", "--config-dir", temp.toString());
        assertThat(run.exitCode()).isEqualTo(78);
        assertThat(run.err()).isEqualTo("error: " + cluster + ": is a symbolic link to a file that does not exist\n"
                + "configuration is invalid: 1 error\n");
    }

    private static String render(CliRun run, Path dir, boolean withStdout) {
        StringBuilder out = new StringBuilder("exit ").append(run.exitCode()).append('\n');
        out.append("--- stderr\n").append(run.err().replace(dir.toString(), "${dir}"));
        if (withStdout) {
            out.append("--- stdout\n").append(run.out().replace(dir.toString(), "${dir}"));
        }
        return out.toString();
    }

    private static Map<String, String> readEnvironment(Path file) throws IOException {
        Map<String, String> environment = new LinkedHashMap<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file)) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    environment.put(line.substring(0, eq), line.substring(eq + 1));
                }
            }
        }
        return environment;
    }

    private static Path corpusDirectory() {
        try {
            return Path.of(ConfigCorpusTest.class.getResource("/config-corpus").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The corpus directory in src/test/resources that target/test-classes was copied from. */
    private static Path sourceTree(Path compiledCase) {
        Path source = Path.of("src", "test", "resources", "config-corpus")
                .resolve(compiledCase.getFileName().toString());
        if (!Files.isDirectory(source)) {
            throw new UncheckedIOException(new IOException("no source directory " + source.toAbsolutePath()
                    + " for " + Arrays.toString(new Object[] {compiledCase})));
        }
        return source;
    }
}
