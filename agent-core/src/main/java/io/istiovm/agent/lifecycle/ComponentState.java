package io.istiovm.agent.lifecycle;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One component's state as last reported: the phase, a one-line reason, since when the phase holds, when the
 * component's loop last made progress (empty for components without a loop), and its {@code facts}: what it holds
 * right now as named values (the identity's expiry, the Envoy epoch, the rule count), in the order the component
 * gave them. The reason is for people; the facts are for STATUS=, /debug/status and metrics, which must not parse
 * prose.
 */
public record ComponentState(String name, Phase phase, String reason, Instant since, Optional<Instant> lastProgress,
                             Map<String, String> facts) {

    public ComponentState {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(phase, "phase");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(since, "since");
        Objects.requireNonNull(lastProgress, "lastProgress");
        if (reason.contains("\n")) {
            throw new IllegalArgumentException("a reason is one line: " + reason);
        }
        facts = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(facts, "facts")));
        facts.forEach((key, value) -> {
            if (!key.matches("[a-z][a-z0-9_]*") || value == null || value.contains("\n")) {
                throw new IllegalArgumentException("a fact is a snake_case key and a one-line value: " + key);
            }
        });
    }

    /** Without facts. */
    public ComponentState(String name, Phase phase, String reason, Instant since, Optional<Instant> lastProgress) {
        this(name, phase, reason, since, lastProgress, Map.of());
    }

    public Optional<String> fact(String key) {
        return Optional.ofNullable(facts.get(key));
    }

    /** {@code name: PHASE (reason)}, as STATUS= and logs show it. */
    public String describe() {
        return name + ": " + phase.name().toLowerCase(java.util.Locale.ROOT) + (reason.isEmpty() ? "" : " (" + reason + ")");
    }
}
