package io.istiovm.agent.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogTargetTest {
    @TempDir
    Path tmp;

    @Test
    void theJournalStreamMatchingARealDescriptorsDeviceAndInodeMeansTheJournal() throws Exception {
        Path file = tmp.resolve("stream");
        try (FileOutputStream out = new FileOutputStream(file.toFile())) {
            // The descriptor this stream holds, found as /proc/self/fd/N pointing at the file; read as the agent
            // reads fd 2.
            Path fd = descriptorOf(file);
            long[] devIno = AgentLogging.devIno(fd).orElseThrow();
            Map<String, Object> attrs = Files.readAttributes(file, "unix:dev,ino");
            assertThat(devIno).containsExactly((Long) attrs.get("dev"), (Long) attrs.get("ino"));

            String stream = Long.toUnsignedString(devIno[0]) + ":" + Long.toUnsignedString(devIno[1]);
            assertThat(LogTarget.choose(Map.of("JOURNAL_STREAM", stream), Optional.of(devIno), false))
                    .isEqualTo(LogTarget.JOURNAL);
            assertThat(LogTarget.choose(Map.of("JOURNAL_STREAM", devIno[0] + ":" + (devIno[1] + 1),
                    "INVOCATION_ID", "abc"), Optional.of(devIno), true))
                    .as("stderr redirected away from the journal").isEqualTo(LogTarget.STDERR);
            assertThat(LogTarget.choose(Map.of("JOURNAL_STREAM", "garbage"), Optional.of(devIno), true))
                    .isEqualTo(LogTarget.STDERR);
            assertThat(LogTarget.choose(Map.of("JOURNAL_STREAM", stream), Optional.empty(), true))
                    .isEqualTo(LogTarget.STDERR);
        }
    }

    @Test
    void underSystemdWithoutAJournalStreamTheSocketDecides() {
        assertThat(LogTarget.choose(Map.of("INVOCATION_ID", "abc"), Optional.empty(), true))
                .isEqualTo(LogTarget.JOURNAL);
        assertThat(LogTarget.choose(Map.of("INVOCATION_ID", "abc"), Optional.empty(), false))
                .isEqualTo(LogTarget.STDERR);
        assertThat(LogTarget.choose(Map.of(), Optional.empty(), true)).isEqualTo(LogTarget.STDERR);
    }

    @Test
    void theOperatorMayForceEither() {
        assertThat(LogTarget.choose(Map.of("VM_AGENT_LOG_TARGET", "journal"), Optional.empty(), false))
                .isEqualTo(LogTarget.JOURNAL);
        assertThat(LogTarget.choose(Map.of("VM_AGENT_LOG_TARGET", "stderr", "INVOCATION_ID", "x"),
                Optional.empty(), true)).isEqualTo(LogTarget.STDERR);
    }

    private static Path descriptorOf(Path file) throws Exception {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            File target = file.toFile().getCanonicalFile();
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(target.toPath());
                } catch (Exception e) {
                    return false;
                }
            }).findFirst().orElseThrow();
        }
    }
}
