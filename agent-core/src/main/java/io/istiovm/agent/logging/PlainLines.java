package io.istiovm.agent.logging;

import java.io.PrintWriter;
import java.io.StringWriter;
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
        timestamp(entry.time().getEpochSecond(), entry.time().getNano() / 1_000_000, line);
        line.append(' ');
        String level = entry.level().name();
        line.append(level).append(level.length() == 4 ? "  " : " ");
        line.append('[');
        escape(entry.thread(), line);
        line.append("] ").append(entry.logger()).append(" - ");
        escape(entry.message(), line);
        for (Map.Entry<String, String> kv : entry.keyValues()) {
            pair(kv, line);
        }
        if (!entry.mdc().isEmpty()) {
            for (Map.Entry<String, String> kv : new TreeMap<>(entry.mdc()).entrySet()) {
                pair(kv, line);
            }
        }
        line.append('\n');
        entry.throwable().ifPresent(t -> line.append(stack(t)));
        return line.toString();
    }

    /**
     * {@code 2026-12-02T19:03:07.123Z}, as ISO_INSTANT at millisecond precision writes it, by hand: java.time's
     * formatter costs ~50 classes at start and is several times slower per line. Days to civil date after Howard
     * Hinnant's days_from_civil inverse (proleptic Gregorian, years 0 to 9999).
     */
    static void timestamp(long epochSecond, int millis, StringBuilder out) {
        long days = Math.floorDiv(epochSecond, 86_400);
        long secondOfDay = Math.floorMod(epochSecond, 86_400);
        long z = days + 719_468;
        long era = Math.floorDiv(z, 146_097);
        long doe = z - era * 146_097;
        long yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        long day = doy - (153 * mp + 2) / 5 + 1;
        long month = mp < 10 ? mp + 3 : mp - 9;
        long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        pad(year, 4, out);
        out.append('-');
        pad(month, 2, out);
        out.append('-');
        pad(day, 2, out);
        out.append('T');
        pad(secondOfDay / 3600, 2, out);
        out.append(':');
        pad(secondOfDay / 60 % 60, 2, out);
        out.append(':');
        pad(secondOfDay % 60, 2, out);
        out.append('.');
        pad(millis, 3, out);
        out.append('Z');
    }

    private static void pad(long value, int width, StringBuilder out) {
        String digits = Long.toString(value);
        for (int i = digits.length(); i < width; i++) {
            out.append('0');
        }
        out.append(digits);
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
