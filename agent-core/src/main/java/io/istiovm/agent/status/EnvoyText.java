package io.istiovm.agent.status;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Envoy's text exposition, prepared for appending after the agent's own families. */
final class EnvoyText {
    /** The metric name a sample line or a HELP/TYPE comment is about. */
    private static final Pattern NAME = Pattern.compile("^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)");

    private EnvoyText() {
    }

    /**
     * {@code text} without the families whose names start with {@code prefix} (the agent's own: a family may appear
     * only once in an exposition, and the agent's are the ones that describe the agent), ending in a newline.
     */
    static String withoutFamilies(String text, String prefix) {
        StringBuilder kept = new StringBuilder(text.length() + 1);
        for (String line : text.split("\n", -1)) {
            if (line.isEmpty()) {
                continue;
            }
            Matcher m = NAME.matcher(line);
            if (m.find() && m.group(1).startsWith(prefix)) {
                continue;
            }
            kept.append(line).append('\n');
        }
        return kept.toString();
    }
}
