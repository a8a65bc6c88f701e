package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.systemd.NotifySettings;
import io.istiovm.agent.testing.SteppingClock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The watchdog's decision over a stepped clock. */
class LivenessTest {
    private static final Duration STALE_AFTER = Duration.ofSeconds(75);
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T20:00:00Z"));

    private AgentState.Snapshot snapshot(ComponentState... components) {
        return new AgentState.Snapshot(clock.instant(), AgentState.Stage.RUNNING, List.of(components),
                Optional.empty());
    }

    private ComponentState loop(String name, Instant lastProgress) {
        return new ComponentState(name, Phase.READY, "", lastProgress, Optional.of(lastProgress));
    }

    @Test
    void pingsWhileEveryLoopChecksInAndStopsWhenOneHangs() {
        Instant start = clock.instant();
        // Idle loops check in every 5 s; the envoy loop's step hangs after its first check-in.
        clock.advance(Duration.ofSeconds(70));
        AgentState.Snapshot slowButBounded = snapshot(loop("hosts", clock.instant().minusSeconds(5)),
                loop("envoy", start));
        assertThat(Liveness.of(slowButBounded, clock.instant(), STALE_AFTER).alive())
                .as("a step running 70 s, within the longest deadline").isTrue();
        clock.advance(Duration.ofSeconds(6));
        Liveness.Verdict hung = Liveness.of(snapshot(loop("hosts", clock.instant().minusSeconds(1)),
                loop("envoy", start)), clock.instant(), STALE_AFTER);
        assertThat(hung.alive()).isFalse();
        assertThat(hung.why()).isEqualTo("loop stalled: envoy (no progress for 76 s, bound 75 s)");
    }

    @Test
    void eachComponentHasItsOwnBound() {
        NotifySettings settings = new NotifySettings(Map.of("capture", Duration.ofSeconds(600)),
                Duration.ofSeconds(10), Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1));
        Instant start = clock.instant();
        clock.advance(Duration.ofSeconds(300));
        assertThat(Liveness.of(snapshot(loop("capture", start)), clock.instant(), settings::staleAfter).alive())
                .as("capture's netfilter programs may run this long").isTrue();
        Liveness.Verdict hosts = Liveness.of(snapshot(loop("capture", start), loop("hosts", clock.instant()
                .minusSeconds(26))), clock.instant(), settings::staleAfter);
        assertThat(hosts.alive()).isFalse();
        assertThat(hosts.why()).isEqualTo("loop stalled: hosts (no progress for 26 s, bound 25 s)");
    }

    @Test
    void componentsWithoutALoopAndStoppedOnesDoNotCount() {
        Instant long_ago = clock.instant();
        clock.advance(Duration.ofHours(1));
        AgentState.Snapshot snapshot = snapshot(
                new ComponentState("sds", Phase.READY, "", long_ago, Optional.empty()),
                new ComponentState("capture", Phase.STOPPED, "stopped", long_ago, Optional.of(long_ago)),
                loop("identity", clock.instant()));
        assertThat(Liveness.of(snapshot, clock.instant(), STALE_AFTER).alive()).isTrue();
    }
}
