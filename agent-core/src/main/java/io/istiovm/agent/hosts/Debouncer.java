package io.istiovm.agent.hosts;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * When the watcher re-renders: {@code quiet} after the last change (a burst of edits, or an editor's
 * write-rename-chmod, becomes one render), but no later than {@code maxDelay} after the first change of a burst,
 * and at least every {@code checkInterval} to repair drift that no event reported. Pure: time comes in as
 * arguments, so it is tested without waiting.
 */
final class Debouncer {
    private final Duration quiet;
    private final Duration maxDelay;
    private final Duration checkInterval;
    private Instant firstChange;
    private Instant lastChange;
    private Instant nextCheck;

    Debouncer(Duration quiet, Duration maxDelay, Duration checkInterval, Instant now) {
        this.quiet = Objects.requireNonNull(quiet);
        this.maxDelay = Objects.requireNonNull(maxDelay);
        this.checkInterval = Objects.requireNonNull(checkInterval);
        if (maxDelay.compareTo(quiet) < 0) {
            throw new IllegalArgumentException("maxDelay " + maxDelay + " is shorter than quiet " + quiet);
        }
        this.nextCheck = now.plus(checkInterval);
    }

    void changed(Instant now) {
        if (firstChange == null) {
            firstChange = now;
        }
        lastChange = now;
    }

    /** The next instant at which {@link #due} may become true. */
    Instant deadline() {
        if (firstChange == null) {
            return nextCheck;
        }
        Instant settled = lastChange.plus(quiet);
        Instant capped = firstChange.plus(maxDelay);
        Instant change = settled.isBefore(capped) ? settled : capped;
        return change.isBefore(nextCheck) ? change : nextCheck;
    }

    /** True when a render is due at {@code now}; then the burst is over and the next check is scheduled. */
    boolean due(Instant now) {
        if (now.isBefore(deadline())) {
            return false;
        }
        firstChange = null;
        lastChange = null;
        nextCheck = now.plus(checkInterval);
        return true;
    }
}
