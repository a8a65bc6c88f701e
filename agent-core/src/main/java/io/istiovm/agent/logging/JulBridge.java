package io.istiovm.agent.logging;

import java.util.logging.Handler;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * Carries java.util.logging records (gRPC logs through it) into this backend, so that they reach the journal with
 * their priority and fields and pass the same levels, instead of JUL's console handler writing its own two-line
 * format to stderr (which the journal would take as one info entry per line). Installed once when the backend
 * starts: it replaces the root logger's handlers.
 */
final class JulBridge extends Handler {
    private final SimpleFormatter formatter = new SimpleFormatter();

    static void install(LogLevels levels) {
        java.util.logging.Logger root = LogManager.getLogManager().getLogger("");
        for (Handler handler : root.getHandlers()) {
            root.removeHandler(handler);
        }
        root.addHandler(new JulBridge());
        // JUL filters at the root for every logger; the backend then applies each logger's own level.
        root.setLevel(julLevel(levels.lowest()));
    }

    /** The JUL level that lets through what {@code threshold} (an slf4j level's int) does. */
    static java.util.logging.Level julLevel(int threshold) {
        if (threshold == LogLevels.OFF) {
            return java.util.logging.Level.OFF;
        }
        if (threshold <= Level.TRACE.toInt()) {
            return java.util.logging.Level.FINEST;
        }
        if (threshold <= Level.DEBUG.toInt()) {
            return java.util.logging.Level.FINE;
        }
        if (threshold <= Level.INFO.toInt()) {
            return java.util.logging.Level.INFO;
        }
        return threshold <= Level.WARN.toInt() ? java.util.logging.Level.WARNING : java.util.logging.Level.SEVERE;
    }

    /** SEVERE error, WARNING warn, INFO info, CONFIG and FINE debug, below trace. */
    static Level level(java.util.logging.Level level) {
        int value = level.intValue();
        if (value >= java.util.logging.Level.SEVERE.intValue()) {
            return Level.ERROR;
        }
        if (value >= java.util.logging.Level.WARNING.intValue()) {
            return Level.WARN;
        }
        if (value >= java.util.logging.Level.INFO.intValue()) {
            return Level.INFO;
        }
        return value >= java.util.logging.Level.FINE.intValue() ? Level.DEBUG : Level.TRACE;
    }

    @Override
    public void publish(LogRecord record) {
        if (record == null) {
            return;
        }
        String name = record.getLoggerName() == null ? "jul" : record.getLoggerName();
        LoggerFactory.getLogger(name).atLevel(level(record.getLevel())).setCause(record.getThrown())
                .log(formatter.formatMessage(record));
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
}
