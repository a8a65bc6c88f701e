package io.istiovm.agent.systemd;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * What the systemd notifier needs to know of the rest of the agent, built by the assembly.
 *
 * @param longestStep per component, the longest one step of its loop can legitimately run: every slow step has a
 *     deadline of its own (a CA request, Envoy's LIVE wait, an Envoy stop, a netfilter program), so this is known
 * @param otherStep the same for a component not named there (local file work: the hosts block, SDS's files)
 * @param startBound how long after the process began EXTEND_TIMEOUT_USEC may keep the start from timing out
 * @param stopBound how long after STOPPING=1 EXTEND_TIMEOUT_USEC may keep the stop from timing out (the drain)
 * @param tick how often the notifier checks when there is no watchdog (with one: half its timeout)
 */
public record NotifySettings(Map<String, Duration> longestStep, Duration otherStep, Duration startBound,
                             Duration stopBound, Duration tick) {
    /**
     * Added to a component's longest step to make its staleness bound: an idle loop checks in every 5 s
     * (ThreadLoops.CHECK_IN) and a step that ends just before its deadline reports right after; 10 s more absorb a
     * pause of the JVM or a slow disk.
     */
    public static final Duration CHECK_IN_AND_SLACK = Duration.ofSeconds(15);

    public NotifySettings {
        longestStep = Map.copyOf(longestStep);
        longestStep.values().forEach(NotifySettings::positive);
        for (Duration d : new Duration[] {otherStep, startBound, stopBound, tick}) {
            positive(d);
        }
    }

    /** One bound for every component (tests). */
    public NotifySettings(Duration longestStep, Duration startBound, Duration stopBound, Duration tick) {
        this(Map.of(), longestStep, startBound, stopBound, tick);
    }

    /** How long component {@code name}'s loop may go without progress before the watchdog pings stop. */
    public Duration staleAfter(String name) {
        return longestStep.getOrDefault(name, otherStep).plus(CHECK_IN_AND_SLACK);
    }

    private static void positive(Duration d) {
        Objects.requireNonNull(d, "duration");
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("a notifier duration is positive: " + d);
        }
    }
}
