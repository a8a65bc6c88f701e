package io.istiovm.agent.lifecycle;

import java.time.Clock;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The one place a component reports its state. A change of phase or reason is announced to {@link AgentState}'s
 * listeners; {@link #progress()} (called by the component's loop after every step) only moves the timestamp, so a
 * loop that runs often does not flood the listeners.
 */
public final class StatusReporter {
    private final String name;
    private final Clock clock;
    private final Runnable onChange;
    private ComponentState state;

    StatusReporter(String name, Clock clock, Runnable onChange) {
        this.name = Objects.requireNonNull(name, "name");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.onChange = Objects.requireNonNull(onChange, "onChange");
        this.state = new ComponentState(name, Phase.STOPPED, "not started", clock.instant(), Optional.empty());
    }

    public String name() {
        return name;
    }

    public void starting(String reason) {
        report(Phase.STARTING, reason);
    }

    public void ready(String reason) {
        report(Phase.READY, reason);
    }

    public void degraded(String reason) {
        report(Phase.DEGRADED, reason);
    }

    public void failed(String reason) {
        report(Phase.FAILED, reason);
    }

    public void stopped(String reason) {
        report(Phase.STOPPED, reason);
    }

    /** The component's loop completed a step (or checked in while idle). */
    public synchronized void progress() {
        state = new ComponentState(name, state.phase(), state.reason(), state.since(), Optional.of(clock.instant()),
                state.facts());
    }

    /**
     * Replaces the component's facts (see {@link ComponentState#facts()}): the whole set it holds now, in the order
     * to show them. A change is announced like a change of phase.
     */
    public void facts(Map<String, String> facts) {
        Map<String, String> copy = new LinkedHashMap<>(facts);
        synchronized (this) {
            if (state.facts().equals(copy) && List.copyOf(state.facts().keySet()).equals(List.copyOf(copy.keySet()))) {
                return;
            }
            state = new ComponentState(name, state.phase(), state.reason(), state.since(), state.lastProgress(), copy);
        }
        onChange.run();
    }

    public synchronized ComponentState current() {
        return state;
    }

    private void report(Phase phase, String reason) {
        String line = oneLine(reason);
        synchronized (this) {
            if (state.phase() == phase && state.reason().equals(line)) {
                return;
            }
            Instant since = state.phase() == phase ? state.since() : clock.instant();
            state = new ComponentState(name, phase, line, since, state.lastProgress(), state.facts());
        }
        onChange.run();
    }

    /** The first line of a message; exception messages sometimes carry a list. */
    static String oneLine(String reason) {
        String text = reason == null ? "" : reason.strip();
        int newline = text.indexOf('\n');
        return newline < 0 ? text : text.substring(0, newline).strip() + " (...)";
    }
}
