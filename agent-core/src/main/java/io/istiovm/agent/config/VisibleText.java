package io.istiovm.agent.config;

/**
 * Text for a terminal or a log, made harmless: control characters (C0, DEL, C1), Unicode line and paragraph
 * separators and invisible format characters (bidirectional overrides, zero-width marks) are shown as
 * {@code \xNN} or {@code &#92;uNNNN}, so that a value or a path can neither move the cursor, fake a line of output, nor
 * reorder what is shown.
 */
public final class VisibleText {
    private VisibleText() {
    }

    /** True for a character that configuration values may not contain: a control character or a line break. */
    public static boolean isControl(char c) {
        return Character.isISOControl(c) || c == '\u2028' || c == '\u2029';
    }

    /** True for a character {@link #escape} replaces. */
    public static boolean needsEscape(char c) {
        return isControl(c) || Character.getType(c) == Character.FORMAT;
    }

    /** The index of the first character that {@link #isControl}, or -1. */
    public static int firstControl(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (isControl(text.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    /** {@code text} with every character that {@link #needsEscape} written as an escape. */
    public static String escape(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (needsEscape(c)) {
                if (out == null) {
                    out = new StringBuilder(text.length() + 8).append(text, 0, i);
                }
                out.append(escape(c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    /** One character as {@code \x1b} (up to 0xff) or {@code &#92;u202e}. */
    public static String escape(char c) {
        return c <= 0xff ? String.format("\\x%02x", (int) c) : String.format("\\u%04x", (int) c);
    }

    /** How a message names a refused character: {@code control character 0x1b}. */
    public static String describe(char c) {
        return String.format(c <= 0xff ? "control character 0x%02x" : "control character U+%04X", (int) c);
    }
}
