package io.istiovm.agent.logging;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.event.Level;

/**
 * One log event as the sinks see it: formatted message, the call's key-value pairs (in call order) and the thread's
 * MDC entries, both as strings. Immutable.
 *
 * @param callSite where the logging call was made, only when a sink asked for it (it costs a stack walk)
 */
public record LogEntry(Instant time, Level level, String logger, String thread, String message,
                       List<Map.Entry<String, String>> keyValues, Map<String, String> mdc,
                       Optional<Throwable> throwable, Optional<CallSite> callSite) {
    /** The MDC key that names the component a thread works for (set by the loop threads). */
    public static final String COMPONENT = "COMPONENT";
    /** The component of lines from threads that work for none: the engine, the CLI. */
    public static final String AGENT = "agent";

    public LogEntry {
        Objects.requireNonNull(time, "time");
        Objects.requireNonNull(level, "level");
        Objects.requireNonNull(logger, "logger");
        Objects.requireNonNull(thread, "thread");
        Objects.requireNonNull(message, "message");
        List<Map.Entry<String, String>> copy = new ArrayList<>(keyValues.size());
        for (Map.Entry<String, String> e : keyValues) {
            copy.add(Map.entry(e.getKey(), e.getValue()));
        }
        keyValues = Collections.unmodifiableList(copy);
        mdc = Map.copyOf(mdc);
        Objects.requireNonNull(throwable, "throwable");
        Objects.requireNonNull(callSite, "callSite");
    }

    /** The component this line belongs to: the thread's MDC entry, else {@link #AGENT}. */
    public String component() {
        return mdc.getOrDefault(COMPONENT, AGENT);
    }

    /** The source location of a logging call, as journald's CODE_FILE, CODE_LINE and CODE_FUNC carry it. */
    public record CallSite(String file, int line, String function) {
        public CallSite {
            Objects.requireNonNull(file, "file");
            Objects.requireNonNull(function, "function");
        }
    }
}
