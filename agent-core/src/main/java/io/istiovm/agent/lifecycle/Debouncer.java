package io.istiovm.agent.lifecycle;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * When a loop that watches for changes acts: {@code quiet} after the last change (a burst of edits, or an editor's
 * write-rename-chmod, becomes one run), but no later than {@code maxDelay} after the first change of a burst, and
 * at least every {@code checkInterval} to repair drift that no event reported. Pure: time comes in as arguments, so
 * it is tested without waiting. Not thread-safe: it belongs to the loop's thread.
 */
public final class Debouncer {
    private final Duration quiet;
    private final Duration maxDelay;
    private Duration checkInterval;
    private Instant firstChange;
    private Instant lastChange;
    private Instant nextCheck;

    public Debouncer(Duration quiet, Duration maxDelay, Duration checkInterval, Instant now) {
        this.quiet = Objects.requireNonNull(quiet);
        this.maxDelay = Objects.requireNonNull(maxDelay);
        this.checkInterval = Objects.requireNonNull(checkInterval);
        if (maxDelay.compareTo(quiet) < 0) {
            throw new IllegalArgumentException("maxDelay " + maxDelay + " is shorter than quiet " + quiet);
        }
        this.nextCheck = now.plus(checkInterval);
    }

    public void changed(Instant now) {
        if (firstChange == null) {
            firstChange = now;
        }
        lastChange = now;
    }

    /**
     * Checks every {@code interval} from now on: the next check is due {@code interval} from {@code now}, or
     * sooner if it already was. A burst in progress is kept, so a reload does not lose a change not yet acted on.
     */
    public void checkEvery(Duration interval, Instant now) {
        checkInterval = Objects.requireNonNull(interval);
        Instant sooner = now.plus(interval);
        if (sooner.isBefore(nextCheck)) {
            nextCheck = sooner;
        }
    }

    /** The next instant at which {@link #due} may become true. */
    public Instant deadline() {
        if (firstChange == null) {
            return nextCheck;
        }
        Instant settled = lastChange.plus(quiet);
        Instant capped = firstChange.plus(maxDelay);
        Instant change = settled.isBefore(capped) ? settled : capped;
        return change.isBefore(nextCheck) ? change : nextCheck;
    }

    /** True when a run is due at {@code now}; then the burst is over and the next check is scheduled. */
    public boolean due(Instant now) {
        if (now.isBefore(deadline())) {
            return false;
        }
        firstChange = null;
        lastChange = null;
        nextCheck = now.plus(checkInterval);
        return true;
    }
}
