package io.istiovm.agent.lifecycle;

import java.util.Objects;
import java.util.Optional;

/**
 * What a reload did to one component: {@code summary} says it in a few words ("unchanged", "rules replaced");
 * {@code needsRestart} names a change that cannot be applied live and what to do about it.
 */
public record Reconciled(boolean changed, String summary, Optional<String> needsRestart) {

    public Reconciled {
        Objects.requireNonNull(summary, "summary");
        Objects.requireNonNull(needsRestart, "needsRestart");
    }

    public static Reconciled unchanged() {
        return new Reconciled(false, "unchanged", Optional.empty());
    }

    public static Reconciled changed(String summary) {
        return new Reconciled(true, summary, Optional.empty());
    }

    /** The parts that could be applied were (or nothing was); {@code what} cannot be without a restart. */
    public Reconciled withRestartNeeded(String what) {
        return new Reconciled(changed, summary, Optional.of(what));
    }
}
