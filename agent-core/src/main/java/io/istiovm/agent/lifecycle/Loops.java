package io.istiovm.agent.lifecycle;

import java.time.Clock;
import java.time.Instant;

/**
 * The one way the agent waits. A component's work is a {@link Step}: it does what is due at {@code now} and says
 * when it next wants to run; it never sleeps. Events (a file changed, a process exited, a reload) {@link
 * Loop#wake() wake} the loop early. The daemon runs each loop on a thread of its own over the system clock
 * ({@link ThreadLoops}); tests step a clock and run due steps on the test's thread.
 */
public interface Loops {

    /** The clock every step is given {@code now} from; the agent's one clock. */
    Clock clock();

    /**
     * Starts a loop that runs {@code step} at once and then whenever it is due or woken, until closed.
     * {@code onProgress} is called after each step and each idle check-in (the watchdog's heartbeat): the one
     * record of a loop's progress is its component's {@link StatusReporter}.
     */
    Loop start(String name, Step step, Runnable onProgress);

    /** One round of a loop's work. */
    @FunctionalInterface
    interface Step {
        /**
         * Does what is due at {@code now}; returns the instant it next wants to run (at or before {@code now}:
         * again at once). A thrown exception is logged and the step runs again after a short pause.
         */
        Instant run(Instant now) throws Exception;
    }
}
