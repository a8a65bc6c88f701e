package io.istiovm.agent.testing;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Waiting for a condition with a deadline, for state that offers no event to wait on (files on disk, another
 * process). The condition is re-checked every few milliseconds; the test fails with {@code description} when the
 * deadline passes. Never use it to wait for time itself.
 */
public final class Conditions {
    private static final long RECHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private Conditions() {
    }

    public static void await(String description, Duration deadline, BooleanSupplier condition) {
        long end = System.nanoTime() + deadline.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                throw new AssertionError("not within " + deadline + ": " + description);
            }
            LockSupport.parkNanos(RECHECK_NANOS);
        }
    }
}
