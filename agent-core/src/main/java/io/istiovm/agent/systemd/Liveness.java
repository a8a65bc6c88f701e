package io.istiovm.agent.systemd;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The watchdog's decision, pure: given a snapshot and the time, may the agent tell systemd it is alive? Only when
 * every component that has a loop (a {@link ComponentState#lastProgress()}) and is not stopped made progress within
 * {@code staleAfter}. A loop whose step never returns stops checking in, so the pings stop and systemd
 * (WatchdogSec=) kills and restarts the agent; a loop that is merely idle checks in every 5 s
 * ({@code ThreadLoops.CHECK_IN}) and a loop running a slow step is bounded by that step's own deadline, which
 * {@code staleAfter} exceeds (see {@link NotifySettings}).
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

    public static Verdict of(AgentState.Snapshot snapshot, Instant now, Duration staleAfter) {
        List<String> stale = new ArrayList<>();
        for (ComponentState c : snapshot.components()) {
            if (c.phase() == Phase.STOPPED || c.lastProgress().isEmpty()) {
                continue;
            }
            Duration quiet = Duration.between(c.lastProgress().get(), now);
            if (quiet.compareTo(staleAfter) > 0) {
                stale.add(c.name() + " (no progress for " + quiet.toSeconds() + " s)");
            }
        }
        return stale.isEmpty() ? new Verdict(true, "every loop made progress within " + staleAfter.toSeconds() + " s")
                : new Verdict(false, "loop stalled: " + String.join(", ", stale));
    }
}
