package io.istiovm.agent.lifecycle;

import java.time.Clock;
import java.util.Objects;

/**
 * What the engine hands a component when it starts: where to report its state, and the loops to run its work on.
 * Also what a component's test builds, with stepped loops.
 */
public record ComponentContext(StatusReporter status, Loops loops, AgentState agent) {

    public ComponentContext {
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(loops, "loops");
        Objects.requireNonNull(agent, "agent");
    }

    /** A context for component {@code name} of {@code agent}. */
    public static ComponentContext of(String name, Loops loops, AgentState agent) {
        return new ComponentContext(agent.reporter(name), loops, agent);
    }

    public Clock clock() {
        return loops.clock();
    }

    /** Starts the component's loop, named after it; each step and idle check-in counts as the component's progress. */
    public Loop startLoop(Loops.Step step) {
        return loops.start(status.name(), step, status::progress);
    }
}
