package io.istiovm.agent.testing;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Waits for a condition on real state that offers no event to wait on (a file's content, another process, an
 * admin endpoint): returns as soon as the condition holds, and fails with what was awaited, and optionally what
 * was last seen, when the deadline passes first. It polls the condition; it never waits for time itself.
 */
public final class Await {
    private static final long POLL_NANOS = 10_000_000;

    private Await() {
    }

    /** Polls {@code condition} until it holds; fails with {@code what} when {@code timeout} passes first. */
    public static void until(String what, Duration timeout, Callable<Boolean> condition) throws Exception {
        until(what, timeout, condition, () -> null);
    }

    /**
     * As {@link #until(String, Duration, Callable)}; {@code lastSeen} describes the state at the deadline for the
     * failure message (read only then, so it may be expensive).
     */
    public static void until(String what, Duration timeout, Callable<Boolean> condition, Supplier<String> lastSeen)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() - deadline < 0) {
            try {
                if (Boolean.TRUE.equals(condition.call())) {
                    return;
                }
                last = null;
            } catch (Exception e) {
                last = e;
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
        String seen = lastSeen.get();
        AssertionError error = new AssertionError("timed out after " + timeout + " waiting for: " + what
                + (seen == null ? "" : "\nlast seen: " + seen));
        if (last != null) {
            error.initCause(last);
        }
        throw error;
    }
}
