package io.istiovm.agent.config;

import java.util.stream.Collectors;

/** Renders the registry as the Markdown table that README.md carries (a test keeps the two equal). */
public final class ConfigTable {
    private ConfigTable() {
    }

    public static String markdown() {
        StringBuilder out = new StringBuilder();
        ConfigKey.Group current = null;
        for (ConfigKey<?> key : ConfigKeys.all()) {
            if (key.group() != current) {
                if (current != null) {
                    out.append('\n');
                }
                current = key.group();
                out.append("#### ").append(current.title()).append("\n\n");
                out.append("| Key | Form | Default | Since | Meaning |\n");
                out.append("|---|---|---|---|---|\n");
            }
            String meaning = key.meaning() + (key.isCompatOnly() ? " *Accepted, no effect:* " + key.compatNote() : "")
                    + (key.raisesPrivileges() ? " *Root-only source:* it " + key.privilege() + "." : "");
            out.append("| `").append(key.name()).append("` | ")
                    .append(cell(key.type().describe())).append(" | ")
                    .append(cell(key.defaultValue().describe())).append(" | ")
                    .append(key.since()).append(" | ")
                    .append(cell(meaning)).append(" |\n");
        }
        out.append("\nAlso accepted: `").append(ConfigKeys.META_PREFIX).append("<NAME>` (text) and `")
                .append(ConfigKeys.META_JSON_PREFIX)
                .append("<NAME>` (JSON object), sent to Envoy as node metadata `<NAME>`.\n");
        return out.toString();
    }

    private static String cell(String text) {
        return text.chars().mapToObj(c -> c == '|' ? "\\|" : String.valueOf((char) c)).collect(Collectors.joining());
    }
}
