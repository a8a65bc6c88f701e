package io.istiovm.agent.systemd;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** sd_watchdog_enabled(3) as systemd 252 implements it. */
class WatchdogEnvironmentTest {
    private static final long PID = 4242;

    @Test
    void theTimeoutIsWatchdogUsecWhenThePidIsOursOrUnset() {
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "30000000"), PID))
                .contains(Duration.ofSeconds(30));
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "4242"), PID))
                .contains(Duration.ofSeconds(30));
    }

    @Test
    void anotherProcesssWatchdogIsNotOurs() {
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "1"), PID))
                .isEmpty();
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "x"), PID))
                .isEmpty();
    }

    @Test
    void noZeroOrGarbageMeansNoWatchdog() {
        assertThat(WatchdogEnvironment.timeout(Map.of(), PID)).isEmpty();
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "0"), PID)).isEmpty();
        assertThat(WatchdogEnvironment.timeout(Map.of("WATCHDOG_USEC", "soon"), PID)).isEmpty();
    }
}
