package io.istiovm.agent.lifecycle;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One component's state as last reported: the phase, a one-line reason, since when the phase holds, and when the
 * component's loop last made progress (empty for components without a loop).
 */
public record ComponentState(String name, Phase phase, String reason, Instant since, Optional<Instant> lastProgress) {

    public ComponentState {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(phase, "phase");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(since, "since");
        Objects.requireNonNull(lastProgress, "lastProgress");
        if (reason.contains("\n")) {
            throw new IllegalArgumentException("a reason is one line: " + reason);
        }
    }

    /** {@code name: PHASE (reason)}, as STATUS= and logs show it. */
    public String describe() {
        return name + ": " + phase.name().toLowerCase(java.util.Locale.ROOT) + (reason.isEmpty() ? "" : " (" + reason + ")");
    }
}
