package io.istiovm.agent.systemd;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * The watchdog's decision, pure: given a snapshot and the time, may the agent tell systemd it is alive? Only when
 * every component that has a loop (a {@link ComponentState#lastProgress()}) and is not stopped made progress within
 * its staleness bound. A loop whose step never returns stops checking in, so the pings stop and systemd
 * (WatchdogSec=) kills and restarts the agent; a loop that is merely idle checks in every 5 s
 * ({@code ThreadLoops.CHECK_IN}) and a loop running a slow step is bounded by that step's own deadline, which its
 * staleness bound exceeds ({@link NotifySettings#staleAfter}).
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
        for (ComponentState c : snapshot.components()) {
            if (c.phase() == Phase.STOPPED || c.lastProgress().isEmpty()) {
                continue;
            }
            Duration quiet = Duration.between(c.lastProgress().get(), now);
            Duration bound = staleAfter.apply(c.name());
            if (quiet.compareTo(bound) > 0) {
                stale.add(c.name() + " (no progress for " + quiet.toSeconds() + " s, bound " + bound.toSeconds()
                        + " s)");
            }
        }
        return stale.isEmpty() ? new Verdict(true, "every loop made progress within its bound")
                : new Verdict(false, "loop stalled: " + String.join(", ", stale));
    }

    /** With one bound for every component. */
    public static Verdict of(AgentState.Snapshot snapshot, Instant now, Duration staleAfter) {
        return of(snapshot, now, name -> staleAfter);
    }
}
