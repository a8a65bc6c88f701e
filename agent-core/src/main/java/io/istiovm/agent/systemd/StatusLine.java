package io.istiovm.agent.systemd;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * systemd's STATUS= line from a snapshot: what {@code systemctl status} shows under the unit. When the agent is
 * ready, what it holds, from the components' facts (never from their reasons, which are prose):
 * {@code ready: spiffe://cluster.local/ns/vm/sa/default until 12-03 04:00Z, epoch 2 (pid 4242), 19 rules, 2 hosts},
 * a fact that is missing simply left out, then any component that serves degraded and a refused reload. Otherwise
 * the snapshot's summary: what is not ready and why.
 */
public final class StatusLine {
    /** Long enough for every component's reason in the usual case; systemctl cuts the line at the terminal anyway. */
    static final int MAX_CHARS = 320;
    private static final DateTimeFormatter UNTIL = DateTimeFormatter.ofPattern("MM-dd HH:mm'Z'").withZone(ZoneOffset.UTC);

    private StatusLine() {
    }

    public static String of(AgentState.Snapshot snapshot) {
        String line = snapshot.ready() ? ready(snapshot) : snapshot.summary();
        return bounded(line.isEmpty() ? snapshot.stage().name().toLowerCase(java.util.Locale.ROOT) : line);
    }

    private static String ready(AgentState.Snapshot snapshot) {
        List<String> held = new ArrayList<>();
        Optional<ComponentState> identity = snapshot.component("identity");
        identity.flatMap(c -> c.fact("spiffe_id")).ifPresent(id -> held.add(id + identity.flatMap(c -> c.fact("not_after"))
                .flatMap(StatusLine::until).map(u -> " until " + u).orElse("")));
        if (identity.flatMap(c -> c.fact("spiffe_id")).isEmpty()) {
            identity.flatMap(c -> c.fact("not_after")).flatMap(StatusLine::until).ifPresent(u -> held.add("identity until " + u));
        }
        Optional<ComponentState> envoy = snapshot.component("envoy");
        envoy.flatMap(c -> c.fact("epoch")).ifPresent(epoch -> held.add("epoch " + epoch
                + envoy.flatMap(c -> c.fact("pid")).map(pid -> " (pid " + pid + ")").orElse("")));
        snapshot.component("capture").flatMap(c -> c.fact("rules")).ifPresent(n -> held.add(n + " rules"));
        snapshot.component("hosts").flatMap(c -> c.fact("entries")).ifPresent(n -> held.add(n + " hosts"));
        List<String> parts = new ArrayList<>();
        parts.add(held.isEmpty() ? "ready" : "ready: " + String.join(", ", held));
        for (ComponentState c : snapshot.components()) {
            if (c.phase() != Phase.READY) {
                parts.add(c.describe());
            }
        }
        snapshot.reloadRefused().ifPresent(reason -> parts.add("reload refused: " + reason));
        return String.join("; ", parts);
    }

    /** An ISO-8601 instant as {@code MM-dd HH:mmZ}; a fact that does not parse is left out rather than shown raw. */
    private static Optional<String> until(String notAfter) {
        try {
            return Optional.of(UNTIL.format(Instant.parse(notAfter)));
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
    }

    /**
     * At most {@link #MAX_CHARS} characters (code points, so no half of a pair), an ellipsis where it was cut; a
     * control character (a reason may quote what a file held) shown as {@code ?}, so the line stays one line.
     */
    static String bounded(String text) {
        String line = text.codePoints().map(c -> Character.isISOControl(c) ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        if (line.codePointCount(0, line.length()) <= MAX_CHARS) {
            return line;
        }
        int end = line.offsetByCodePoints(0, MAX_CHARS - 1);
        return line.substring(0, end) + "\u2026";
    }
}
