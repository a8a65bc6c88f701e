package io.istiovm.agent.config;

/** Quotes values for display the way they could be pasted back into a shell environment file. */
public final class ShellQuoting {
    private static final int MAX_SHOWN = 120;

    private ShellQuoting() {
    }

    /**
     * Single-quotes {@code value}; control and invisible characters are shown as {@code \xNN} or {@code &#92;uNNNN}
     * ({@link VisibleText}) so that garbage cannot
     * disturb a terminal, and very long values are shortened.
     */
    public static String quote(String value) {
        StringBuilder out = new StringBuilder("'");
        int shown = 0;
        for (int i = 0; i < value.length(); i++) {
            if (shown == MAX_SHOWN) {
                out.append("...(").append(value.length()).append(" characters)");
                break;
            }
            char c = value.charAt(i);
            if (c == '\'') {
                out.append("'\\''");
            } else if (VisibleText.needsEscape(c)) {
                out.append(VisibleText.escape(c));
            } else {
                out.append(c);
            }
            shown++;
        }
        return out.append('\'').toString();
    }
}
