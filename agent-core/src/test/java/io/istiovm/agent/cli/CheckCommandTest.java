package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.VisibleText;
import io.istiovm.agent.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code check}'s output never carries a raw control character, and its reads never block or run unbounded. */
class CheckCommandTest {
    @TempDir
    Path temp;

    @Test
    void everyFormatShowsControlCharactersInPathsEscaped() throws Exception {
        // A directory name may hold anything but '/' and NUL: a terminal escape, a bidirectional override.
        Path dir = Files.createDirectory(temp.resolve("cfg\u001b[2J\u202e"));
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_INBOUND_PORTS=8080\nISTIO_UNKNOWN_THING=1\n");
        for (String format : List.of("text", "json", "properties")) {
            CliRun run = CliRun.run(Map.of(), "check", "--output", format, "--config-dir", dir.toString());
            assertThat(run.exitCode()).as(format + ": " + run).isZero();
            for (String output : List.of(run.out(), run.err())) {
                assertThat(output.chars().filter(c -> c != '\n' && VisibleText.needsEscape((char) c)).count())
                        .as(format + " prints no raw control or format character").isZero();
            }
            assertThat(run.out()).as(format).contains(format.equals("text") ? "cfg\\x1b[2J\\u202e"
                    : format.equals("json") ? "cfg\\u001B[2J\\u202e" : "cfg\\\\x1b[2J\\\\u202e");
            assertThat(run.err()).as("the warning names the file escaped").contains("cfg\\x1b[2J\\u202e/cluster.env:2");
        }
    }

    @Test
    @Timeout(20)
    void aFifoAsClusterEnvIsRefusedWithoutBlocking() throws Exception {
        Path fifo = temp.resolve("cluster.env");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        CliRun run = CliRun.run(Map.of(), "check", "--config-dir", temp.toString());
        assertThat(run.exitCode()).isEqualTo(78);
        assertThat(run.err()).isEqualTo("error: " + fifo + ": cannot be read: is not a regular file (a FIFO); "
                + "refusing to read it\nconfiguration is invalid: 1 error\n");
    }
}
