package io.istiovm.agent.lifecycle;

import org.slf4j.MDC;

/**
 * Names the component a thread is working for in slf4j's MDC, which the logging backend writes as the journal's
 * {@code COMPONENT} field ({@code journalctl COMPONENT=identity}). Loop threads name theirs for good; the engine
 * names a component while it prepares, starts, reconciles or stops it on its own thread (the identity's first
 * issuance happens in its start, not in its loop), and gives the thread back its previous name after.
 */
final class LogComponent implements AutoCloseable {
    static final String KEY = "COMPONENT";

    private final String previous;

    private LogComponent(String name) {
        previous = MDC.get(KEY);
        MDC.put(KEY, name);
    }

    /** Until {@link #close()}, this thread's lines belong to component {@code name}. */
    static LogComponent as(String name) {
        return new LogComponent(name);
    }

    /** This thread's lines belong to {@code name} from now on (a loop's own thread). */
    static void forThisThread(String name) {
        MDC.put(KEY, name);
    }

    @Override
    public void close() {
        if (previous == null) {
            MDC.remove(KEY);
        } else {
            MDC.put(KEY, previous);
        }
    }
}
