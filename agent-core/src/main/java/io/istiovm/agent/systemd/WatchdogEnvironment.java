package io.istiovm.agent.systemd;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether systemd expects WATCHDOG=1 from this process, and how often: sd_watchdog_enabled(3) as systemd 252's
 * sd-daemon.c implements it. {@code $WATCHDOG_USEC} is a positive count of microseconds (0 or garbage: disabled);
 * {@code $WATCHDOG_PID}, when set, must be this process's pid, else the watchdog is someone else's (a parent that
 * exec'd us without clearing it) and we stay quiet.
 */
public final class WatchdogEnvironment {
    private static final Logger LOG = LoggerFactory.getLogger(WatchdogEnvironment.class);

    private WatchdogEnvironment() {
    }

    /** The watchdog timeout systemd enforces on process {@code pid}, or empty when it enforces none on us. */
    public static Optional<Duration> timeout(Map<String, String> environment, long pid) {
        String usec = environment.get("WATCHDOG_USEC");
        if (usec == null) {
            return Optional.empty();
        }
        long micros;
        try {
            micros = Long.parseLong(usec.strip());
        } catch (NumberFormatException e) {
            LOG.warn("WATCHDOG_USEC is not a number, no watchdog: {}", usec);
            return Optional.empty();
        }
        // timestamp_is_set(): 0 and USEC_INFINITY (all ones, negative here) mean no watchdog.
        if (micros <= 0) {
            return Optional.empty();
        }
        String owner = environment.get("WATCHDOG_PID");
        if (owner != null) {
            try {
                if (Long.parseLong(owner.strip()) != pid) {
                    return Optional.empty();
                }
            } catch (NumberFormatException e) {
                LOG.warn("WATCHDOG_PID is not a pid, no watchdog: {}", owner);
                return Optional.empty();
            }
        }
        return Optional.of(Duration.ofNanos(Math.multiplyExact(micros, 1000L)));
    }
}
