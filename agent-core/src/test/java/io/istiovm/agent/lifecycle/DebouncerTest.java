package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class DebouncerTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private static Instant at(long millis) {
        return T0.plusMillis(millis);
    }

    private final Debouncer debouncer = new Debouncer(Duration.ofMillis(50), Duration.ofMillis(200),
            Duration.ofSeconds(30), T0);

    @Test
    void aBurstOfChangesRendersOnceAfterItGoesQuiet() {
        debouncer.changed(at(0));
        debouncer.changed(at(30));
        assertThat(debouncer.deadline()).isEqualTo(at(80));
        assertThat(debouncer.due(at(79))).isFalse();
        assertThat(debouncer.due(at(80))).isTrue();
        assertThat(debouncer.due(at(81))).isFalse();
        assertThat(debouncer.deadline()).isEqualTo(at(30_080));
    }

    @Test
    void aChangeThatNeverStopsStillRendersAfterTheMaximumDelay() {
        for (int t = 0; t <= 190; t += 10) {
            debouncer.changed(at(t));
            assertThat(debouncer.due(at(t))).isFalse();
        }
        assertThat(debouncer.deadline()).isEqualTo(at(200));
        assertThat(debouncer.due(at(200))).isTrue();
    }

    @Test
    void withoutChangesItChecksEveryInterval() {
        assertThat(debouncer.deadline()).isEqualTo(at(30_000));
        assertThat(debouncer.due(at(29_999))).isFalse();
        assertThat(debouncer.due(at(30_000))).isTrue();
        assertThat(debouncer.deadline()).isEqualTo(at(60_000));
    }

    @Test
    void aNewCheckIntervalKeepsTheBurstInProgress() {
        debouncer.changed(at(0));
        debouncer.checkEvery(Duration.ofSeconds(10), at(10));
        assertThat(debouncer.deadline()).as("the pending change still runs after the quiet period").isEqualTo(at(50));
        assertThat(debouncer.due(at(50))).isTrue();
        assertThat(debouncer.deadline()).isEqualTo(at(10_050));
    }

    @Test
    void aNewCheckIntervalNeverPutsOffACheckAlreadyDue() {
        debouncer.checkEvery(Duration.ofSeconds(10), at(0));
        assertThat(debouncer.deadline()).isEqualTo(at(10_000));
        debouncer.checkEvery(Duration.ofMinutes(5), at(1_000));
        assertThat(debouncer.deadline()).as("the sooner check stays").isEqualTo(at(10_000));
        assertThat(debouncer.due(at(10_000))).isTrue();
        assertThat(debouncer.deadline()).isEqualTo(at(310_000));
    }
}
