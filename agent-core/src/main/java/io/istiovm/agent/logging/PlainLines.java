package io.istiovm.agent.logging;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.TreeMap;

/**
 * The agent's log lines where there is no journal: {@code 2026-12-02T19:03:07.123Z WARN  [thread] logger -
 * message key=value ...}, the thread's MDC entries (COMPONENT among them) after the call's pairs, and an exception's
 * stack on the lines after. One entry is one line (before its stack): control characters in the message and values
 * are escaped, so a hostile string (a host name from a file, an Envoy line) cannot forge a line of its own.
 */
public final class PlainLines {
    private PlainLines() {
    }

    public static String format(LogEntry entry) {
        StringBuilder line = new StringBuilder(128);
        line.append(DateTimeFormatter.ISO_INSTANT.format(entry.time().truncatedTo(ChronoUnit.MILLIS))).append(' ');
        String level = entry.level().name();
        line.append(level).append(" ".repeat(Math.max(1, 6 - level.length())));
        line.append('[');
        escape(entry.thread(), line);
        line.append("] ").append(entry.logger()).append(" - ");
        escape(entry.message(), line);
        for (Map.Entry<String, String> kv : entry.keyValues()) {
            pair(kv, line);
        }
        for (Map.Entry<String, String> kv : new TreeMap<>(entry.mdc()).entrySet()) {
            pair(kv, line);
        }
        line.append('\n');
        entry.throwable().ifPresent(t -> line.append(stack(t)));
        return line.toString();
    }

    private static void pair(Map.Entry<String, String> kv, StringBuilder line) {
        line.append(' ');
        escape(kv.getKey(), line);
        line.append('=');
        escape(kv.getValue(), line);
    }

    /** The throwable's stack as printStackTrace writes it, causes included. */
    static String stack(Throwable t) {
        StringWriter out = new StringWriter();
        try (PrintWriter writer = new PrintWriter(out)) {
            t.printStackTrace(writer);
        }
        return out.toString();
    }

    private static void escape(String text, StringBuilder out) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
    }
}
