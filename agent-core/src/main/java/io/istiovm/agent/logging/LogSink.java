package io.istiovm.agent.logging;

/** Where log entries go: the journal, stderr, or a test's capture. Implementations are safe for concurrent use. */
public interface LogSink {
    void write(LogEntry entry);

    /** Whether entries for this sink need their {@link LogEntry#callSite()} (a stack walk per line). */
    default boolean wantsCallSite() {
        return false;
    }
}
