package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.testing.JavaProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * SIGKILLs a writer process that rewrites the hosts file in a loop, 200 times at random moments: afterwards the file
 * is always one of the two complete contents (so every line outside the block is there), never torn or empty.
 */
class HostsWriterTortureTest {
    private static final int KILLS = 200;

    @Test
    void aKilledWriterLeavesTheOldOrTheNewFileNeverAMix() throws Exception {
        try (HostsScratch scratch = HostsScratch.create()) {
            HostsFileContent outside = HostsFileContent.parse(scratch.target(), scratch.targetBytes());
            byte[] small = outside.withBlock(block(1));
            // Large enough that one write spans several pages, so a kill can land in the middle of it.
            byte[] large = outside.withBlock(block(600));
            Path fileA = Files.write(scratch.root().resolve("a"), small);
            Path fileB = Files.write(scratch.root().resolve("b"), large);
            Files.write(scratch.target(), small);
            List<String> command = JavaProcess.command(HostsWriterLoop.class, scratch.target().toString(),
                    fileA.toString(), fileB.toString());
            Random random = new Random(4);
            int sawA = 0;
            int sawB = 0;
            for (int i = 0; i < KILLS; i++) {
                JavaProcess.Running running = JavaProcess.start(command);
                running.awaitLine("ready");
                // The kill moment: after a random number of completed writes (0 to 3; the first one finds the old
                // content and writes nothing), then a random part of a write cycle (measured: 1-5 ms here).
                running.awaitLines(line -> line.startsWith("wrote "), random.nextInt(4));
                LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(random.nextInt(5_000)));
                Process writer = running.process();
                writer.destroyForcibly();
                assertThat(writer.waitFor(10, TimeUnit.SECONDS)).isTrue();
                byte[] after = scratch.targetBytes();
                assertThat(after).as("after kill %d", i).matches(
                        a -> Arrays.equals(a, small) || Arrays.equals(a, large), "the old or the new complete file");
                if (Arrays.equals(after, small)) {
                    sawA++;
                } else {
                    sawB++;
                }
            }
            assertThat(new String(scratch.targetBytes(), StandardCharsets.UTF_8))
                    .endsWith(HostsScratch.TYPICAL_HOSTS);
            // Both contents were seen after kills: the kills did land at different points of the cycle.
            assertThat(sawA).isPositive();
            assertThat(sawB).isPositive();
        }
    }

    private static HostsBlock block(int names) throws Exception {
        List<HostsEntry> entries = new ArrayList<>();
        for (int i = 0; i < names; i++) {
            entries.add(new HostsEntry("service-" + i + ".namespace.global",
                    IpAddresses.parse("127.255." + (i / 250) + "." + (i % 250 + 1)),
                    new Source.FileLine(Path.of("/c/hosts.d/many.hosts"), i + 1), "many.hosts:" + (i + 1)));
        }
        return HostsBlock.of(entries);
    }
}
