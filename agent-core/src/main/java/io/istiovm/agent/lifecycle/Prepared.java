package io.istiovm.agent.lifecycle;

import java.io.PrintWriter;

/**
 * A component's plan: an immutable value that can say what it would do ({@code run --dry-run}) and do it. The
 * same value is what a running component reconciles to on reload ({@link Running#reload(Prepared)}).
 */
public interface Prepared {

    /** Prints what {@link #start} would do, changing nothing. */
    void describe(PrintWriter out);

    /**
     * Brings the host to the plan and starts the component's loop; throws when it cannot, leaving nothing of its
     * own behind. Long waits belong in the loop, not here: start returns once the component is under way, and
     * reports readiness through {@link ComponentContext#status()}.
     */
    Running start(ComponentContext context) throws Exception;
}
