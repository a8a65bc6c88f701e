package io.istiovm.agent.lifecycle;

import java.io.PrintWriter;
import java.util.List;
import java.util.Objects;

/** Every component prepared, in start order: what {@code run} starts and {@code run --dry-run} prints. */
public final class Plan {

    /** One prepared component. */
    public record Step(String name, Prepared prepared) {
        public Step {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(prepared, "prepared");
        }
    }

    private final List<Step> steps;

    Plan(List<Step> steps) {
        this.steps = List.copyOf(steps);
    }

    public List<Step> steps() {
        return steps;
    }

    /** Each component's own description under a {@code # name} heading. */
    public void describe(PrintWriter out) {
        for (Step step : steps) {
            out.println("# " + step.name());
            step.prepared().describe(out);
        }
        out.flush();
    }
}
