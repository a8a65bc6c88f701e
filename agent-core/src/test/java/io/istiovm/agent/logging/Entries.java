package io.istiovm.agent.logging;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.event.Level;

/** Log entries for tests, at a fixed time. */
final class Entries {
    static final Instant TIME = Instant.parse("2026-12-02T19:03:07.123456Z");

    private Entries() {
    }

    static LogEntry entry(Level level, String message, List<Map.Entry<String, String>> keyValues,
                          Map<String, String> mdc, Throwable throwable) {
        return new LogEntry(TIME, level, "io.istiovm.agent.ca.IdentityComponent", "identity", message, keyValues,
                mdc, Optional.ofNullable(throwable),
                Optional.of(new LogEntry.CallSite("io/istiovm/agent/ca/IdentityComponent.java", 42,
                        "io.istiovm.agent.ca.IdentityComponent.rotate")));
    }

    static LogEntry entry(Level level, String message) {
        return entry(level, message, List.of(), Map.of(), null);
    }
}
