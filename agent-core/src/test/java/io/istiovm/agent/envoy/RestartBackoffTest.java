package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RestartBackoffTest {
    private static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");

    @Test
    void firstRestartIsImmediateThenDoublesUpToTheCap() {
        RestartBackoff backoff = new RestartBackoff(Duration.ofMillis(200), Duration.ofSeconds(3), Duration.ofMinutes(2));
        List<Long> delays = new ArrayList<>();
        Instant t = T0;
        for (int i = 0; i < 8; i++) {
            Duration d = backoff.afterCrash(t, t.plusMillis(50));
            delays.add(d.toMillis());
            t = t.plusMillis(50).plus(d);
        }
        assertThat(delays).containsExactly(0L, 200L, 400L, 800L, 1600L, 3000L, 3000L, 3000L);
        assertThat(backoff.consecutiveCrashes()).isEqualTo(8);
    }

    @Test
    void aProcessThatRanForTheStablePeriodStartsTheSequenceOver() {
        RestartBackoff backoff = new RestartBackoff(Duration.ofMillis(100), Duration.ofSeconds(10), Duration.ofMinutes(1));
        backoff.afterCrash(T0, T0.plusSeconds(1));
        backoff.afterCrash(T0, T0.plusSeconds(1));
        assertThat(backoff.afterCrash(T0, T0.plusSeconds(1))).isEqualTo(Duration.ofMillis(200));
        assertThat(backoff.afterCrash(T0, T0.plusSeconds(60))).isEqualTo(Duration.ZERO);
        assertThat(backoff.afterCrash(T0, T0.plusSeconds(1))).isEqualTo(Duration.ofMillis(100));
    }

    @Test
    void manyCrashesNeverOverflow() {
        RestartBackoff backoff = new RestartBackoff(Duration.ofMillis(1), Duration.ofHours(1), Duration.ofHours(1));
        Duration last = Duration.ZERO;
        for (int i = 0; i < 200; i++) {
            last = backoff.afterCrash(T0, T0);
        }
        assertThat(last).isEqualTo(Duration.ofHours(1));
    }

    @Test
    void rejectsACapBelowTheInitialDelay() {
        assertThatThrownBy(() -> new RestartBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1), Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
