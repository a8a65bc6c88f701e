package io.istiovm.agent.envoy;

import java.time.Duration;
import java.time.Instant;

/**
 * How long to wait before restarting a crashed Envoy: the first restart is immediate (a single crash should cost
 * no more than a process start), then {@code initial}, doubling per consecutive crash up to {@code max}. An Envoy
 * that ran for {@code stablePeriod} before it exited was healthy; its crash starts the sequence over.
 */
public final class RestartBackoff {
    private final Duration initial;
    private final Duration max;
    private final Duration stablePeriod;
    private int consecutiveCrashes;

    public RestartBackoff(Duration initial, Duration max, Duration stablePeriod) {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0 || stablePeriod.isNegative()) {
            throw new IllegalArgumentException("backoff needs 0 < initial <= max and stablePeriod >= 0, got "
                    + initial + ", " + max + ", " + stablePeriod);
        }
        this.initial = initial;
        this.max = max;
        this.stablePeriod = stablePeriod;
    }

    /** Records a crash of a process that ran from {@code started} to {@code exited}; returns the delay. */
    public synchronized Duration afterCrash(Instant started, Instant exited) {
        if (Duration.between(started, exited).compareTo(stablePeriod) >= 0) {
            consecutiveCrashes = 0;
        }
        consecutiveCrashes++;
        if (consecutiveCrashes == 1) {
            return Duration.ZERO;
        }
        int doublings = Math.min(consecutiveCrashes - 2, 40);
        Duration delay = initial.multipliedBy(1L << Math.min(doublings, 30));
        return delay.compareTo(max) > 0 ? max : delay;
    }

    /** The same crashes in a row under new timings: a reload changed them, the crash history stays. */
    public synchronized RestartBackoff retimed(Duration initial, Duration max, Duration stablePeriod) {
        RestartBackoff next = new RestartBackoff(initial, max, stablePeriod);
        next.consecutiveCrashes = consecutiveCrashes;
        return next;
    }

    public synchronized int consecutiveCrashes() {
        return consecutiveCrashes;
    }
}
