package io.istiovm.agent.assembly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Loops;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The watchdog test's fault: one named loop hangs at its check-in once the trigger exists; nothing else changes. */
class LoopFaultsTest {
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T20:00:00Z"));

    /** Records each loop's progress callback as the fault wrapped it. */
    private final class Recording implements Loops {
        final Map<String, Runnable> progress = new HashMap<>();
        private final ManualLoops manual = new ManualLoops(clock);

        @Override
        public java.time.Clock clock() {
            return clock;
        }

        @Override
        public Loop start(String name, Step step, Runnable onProgress) {
            progress.put(name, onProgress);
            return manual.start(name, step, onProgress);
        }
    }

    @Test
    void offUnlessThePropertyIsSet() {
        Recording loops = new Recording();
        assertThat(LoopFaults.wrap(loops, Optional.empty())).isSameAs(loops);
        assertThat(LoopFaults.wrap(loops, Optional.of(" "))).isSameAs(loops);
        assertThatThrownBy(() -> LoopFaults.wrap(loops, Optional.of("envoy"))).isInstanceOf(
                IllegalArgumentException.class);
        assertThatThrownBy(() -> LoopFaults.wrap(loops, Optional.of("envoy:relative")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theNamedLoopHangsAtItsCheckInOnceTheTriggerExists(@TempDir Path dir) throws Exception {
        Path trigger = dir.resolve("hang");
        Recording recording = new Recording();
        Loops loops = LoopFaults.wrap(recording, Optional.of("envoy:" + trigger));
        AtomicInteger envoyProgress = new AtomicInteger();
        AtomicInteger hostsProgress = new AtomicInteger();
        loops.start("envoy", now -> now.plusSeconds(5), envoyProgress::incrementAndGet);
        loops.start("hosts", now -> now.plusSeconds(5), hostsProgress::incrementAndGet);

        recording.progress.get("envoy").run();
        assertThat(envoyProgress).hasValue(1);

        Files.createFile(trigger);
        recording.progress.get("hosts").run();
        assertThat(hostsProgress).as("another loop is untouched").hasValue(1);
        Thread loopThread = new Thread(recording.progress.get("envoy"), "envoy");
        loopThread.setDaemon(true);
        loopThread.start();
        Await.until("the envoy loop's thread blocks", Duration.ofSeconds(10),
                () -> loopThread.getState() == Thread.State.WAITING);
        loopThread.interrupt();
        Await.until("an interrupt does not free it", Duration.ofSeconds(10),
                () -> loopThread.getState() == Thread.State.WAITING && !loopThread.isInterrupted());
        assertThat(loopThread.isAlive()).isTrue();
        assertThat(envoyProgress).as("no progress reported once hung").hasValue(1);
    }
}
