package io.istiovm.agent.logging;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.MDC;
import org.slf4j.Marker;
import org.slf4j.event.KeyValuePair;
import org.slf4j.event.Level;
import org.slf4j.event.LoggingEvent;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.spi.LoggingEventAware;

/**
 * A logger of the agent's backend. Classic calls arrive normalized (throwable split off) from slf4j's
 * AbstractLogger; fluent calls ({@code atInfo().addKeyValue(...)}) arrive whole through {@link LoggingEventAware},
 * which keeps their key-value pairs as pairs instead of slf4j's fallback of pasting them into the message.
 */
final class AgentLogger extends LegacyAbstractLogger implements LoggingEventAware {
    private static final StackWalker WALKER = StackWalker.getInstance();
    private static final String BACKEND = AgentLogger.class.getName();

    /** The threshold computed for one setup; replaced when the setup changes. */
    private record Cached(AgentLogging.Setup setup, int threshold) {
    }

    private volatile Cached cached;
    private final boolean silenced;

    AgentLogger(String name) {
        this.name = name;
        this.silenced = LogLevels.silenced(name);
    }

    private int threshold(AgentLogging.Setup setup) {
        Cached c = cached;
        if (c == null || c.setup() != setup) {
            c = new Cached(setup, setup.levels().threshold(name));
            cached = c;
        }
        return c.threshold();
    }

    private boolean on(Level level) {
        return !silenced && (level.toInt() >= threshold(AgentLogging.setup()) || AgentLogging.capturing());
    }

    @Override
    public boolean isTraceEnabled() {
        return on(Level.TRACE);
    }

    @Override
    public boolean isDebugEnabled() {
        return on(Level.DEBUG);
    }

    @Override
    public boolean isInfoEnabled() {
        return on(Level.INFO);
    }

    @Override
    public boolean isWarnEnabled() {
        return on(Level.WARN);
    }

    @Override
    public boolean isErrorEnabled() {
        return on(Level.ERROR);
    }

    @Override
    protected String getFullyQualifiedCallerName() {
        return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] arguments,
                                               Throwable throwable) {
        emit(level, format(pattern, arguments), List.of(), throwable);
    }

    @Override
    public void log(LoggingEvent event) {
        Object[] arguments = event.getArgumentArray();
        Throwable throwable = event.getThrowable();
        if (throwable == null && arguments != null) {
            throwable = MessageFormatter.getThrowableCandidate(arguments);
            if (throwable != null) {
                arguments = MessageFormatter.trimmedCopy(arguments);
            }
        }
        List<KeyValuePair> pairs = event.getKeyValuePairs();
        List<Map.Entry<String, String>> keyValues = new ArrayList<>(pairs == null ? 0 : pairs.size());
        if (pairs != null) {
            for (KeyValuePair pair : pairs) {
                keyValues.add(Map.entry(String.valueOf(pair.key), String.valueOf(pair.value)));
            }
        }
        emit(event.getLevel(), format(event.getMessage(), arguments), keyValues, throwable);
    }

    private static String format(String pattern, Object[] arguments) {
        if (pattern == null) {
            return "";
        }
        return arguments == null || arguments.length == 0 ? pattern
                : MessageFormatter.basicArrayFormat(pattern, arguments);
    }

    private void emit(Level level, String message, List<Map.Entry<String, String>> keyValues, Throwable throwable) {
        AgentLogging.Setup setup = AgentLogging.setup();
        boolean configured = level.toInt() >= threshold(setup);
        List<LogSink> captures = silenced ? List.of() : AgentLogging.captures();
        if (!configured && captures.isEmpty()) {
            return;
        }
        Map<String, String> mdc = MDC.getCopyOfContextMap();
        LogEntry entry = new LogEntry(AgentLogging.clock().instant(), level, name, Thread.currentThread().getName(),
                message, keyValues, mdc == null ? Map.of() : mdc, Optional.ofNullable(throwable),
                configured && setup.sink().wantsCallSite() ? callSite() : Optional.empty());
        if (configured) {
            setup.sink().write(entry);
        }
        for (LogSink capture : captures) {
            capture.write(entry);
        }
    }

    /** The first frame outside slf4j and this backend: the logging call. */
    static Optional<LogEntry.CallSite> callSite() {
        return WALKER.walk(frames -> frames
                .filter(f -> !f.getClassName().startsWith("org.slf4j.") && !f.getClassName().equals(BACKEND))
                .findFirst()
                .map(f -> {
                    String cls = f.getClassName();
                    int dot = cls.lastIndexOf('.');
                    String dir = dot < 0 ? "" : cls.substring(0, dot).replace('.', '/') + "/";
                    String file = f.getFileName() == null ? cls : dir + f.getFileName();
                    return new LogEntry.CallSite(file, f.getLineNumber(), cls + "." + f.getMethodName());
                }));
    }
}
