package io.istiovm.agent.testing;

import java.time.Duration;
import java.util.concurrent.Callable;

/** Waits for a condition with a deadline, for state that changes on another thread or in another process. */
public final class Await {
    private static final long POLL_MILLIS = 10;

    private Await() {
    }

    /** Polls {@code condition} until it holds; fails with {@code what} when {@code timeout} passes first. */
    public static void until(String what, Duration timeout, Callable<Boolean> condition) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (Boolean.TRUE.equals(condition.call())) {
                    return;
                }
                last = null;
            } catch (Exception e) {
                last = e;
            }
            // A poll interval, not synchronisation: the condition itself decides when to stop.
            Thread.onSpinWait();
            java.util.concurrent.locks.LockSupport.parkNanos(POLL_MILLIS * 1_000_000);
        }
        AssertionError error = new AssertionError("timed out after " + timeout + " waiting for: " + what);
        if (last != null) {
            error.initCause(last);
        }
        throw error;
    }
}
