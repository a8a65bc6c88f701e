package io.istiovm.agent.systemd;

import java.time.Duration;
import java.util.Objects;

/**
 * What the systemd notifier needs to know of the rest of the agent, built by the assembly.
 *
 * @param staleAfter how long a component loop may go without progress before the watchdog pings stop: longer than
 *     the longest step can legitimately run (every slow step has a deadline of its own: a CA request, Envoy's LIVE
 *     wait, an Envoy stop) plus the idle check-in ({@code ThreadLoops}, 5 s) and slack for a pause of the JVM
 * @param startBound how long after the process began EXTEND_TIMEOUT_USEC may keep the start from timing out
 * @param stopBound how long after STOPPING=1 EXTEND_TIMEOUT_USEC may keep the stop from timing out (the drain)
 * @param tick how often the notifier checks when there is no watchdog (with one: half its timeout)
 */
public record NotifySettings(Duration staleAfter, Duration startBound, Duration stopBound, Duration tick) {
    public NotifySettings {
        for (Duration d : new Duration[] {staleAfter, startBound, stopBound, tick}) {
            Objects.requireNonNull(d, "duration");
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("a notifier duration is positive: " + d);
            }
        }
    }
}
