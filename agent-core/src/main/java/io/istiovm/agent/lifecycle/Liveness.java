package io.istiovm.agent.lifecycle;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * Whether the agent is alive, pure: the one rule behind systemd's watchdog pings and {@code /healthz/live}. Given a
 * snapshot and the time, the agent is alive only when
 * every component that has a loop (a {@link ComponentState#lastProgress()}) and is not stopped made progress within
 * its staleness bound. A loop whose step never returns stops checking in, so the pings stop and systemd
 * (WatchdogSec=) kills and restarts the agent; a loop that is merely idle checks in every 5 s
 * ({@link ThreadLoops#CHECK_IN}) and a loop running a slow step is bounded by that step's own deadline, which its
 * staleness bound exceeds (the assembly derives the bounds from those deadlines: {@code NotifySettings.staleAfter}).
 */
public final class Liveness {

    /** Ping or not, and why not (the loops that are stale, for the log line). */
    public record Verdict(boolean alive, String why) {
        public Verdict {
            Objects.requireNonNull(why, "why");
        }
    }

    private Liveness() {
    }

    /** With {@code staleAfter} giving each component's bound by name. */
    public static Verdict of(AgentState.Snapshot snapshot, Instant now, Function<String, Duration> staleAfter) {
        List<String> stale = new ArrayList<>();
        for (ComponentState c : stalled(snapshot, now, staleAfter)) {
            stale.add(c.name() + " (no progress for " + Duration.between(c.lastProgress().get(), now).toSeconds()
                    + " s, bound " + staleAfter.apply(c.name()).toSeconds() + " s)");
        }
        return stale.isEmpty() ? new Verdict(true, "every loop made progress within its bound")
                : new Verdict(false, "loop stalled: " + String.join(", ", stale));
    }

    /** The components with a loop, not stopped, whose last progress is older than their bound. */
    public static List<ComponentState> stalled(AgentState.Snapshot snapshot, Instant now,
                                               Function<String, Duration> staleAfter) {
        List<ComponentState> stalled = new ArrayList<>();
        for (ComponentState c : snapshot.components()) {
            if (c.phase() == Phase.STOPPED || c.lastProgress().isEmpty()) {
                continue;
            }
            if (Duration.between(c.lastProgress().get(), now).compareTo(staleAfter.apply(c.name())) > 0) {
                stalled.add(c);
            }
        }
        return stalled;
    }

    /** With one bound for every component. */
    public static Verdict of(AgentState.Snapshot snapshot, Instant now, Duration staleAfter) {
        return of(snapshot, now, name -> staleAfter);
    }
}
