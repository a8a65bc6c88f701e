package io.istiovm.agent.lifecycle;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/** A running loop: its step runs when due or woken, one at a time, on the loop's thread. */
public interface Loop extends AutoCloseable {

    String name();

    /** Runs the step as soon as the current one (if any) is done. Safe from any thread, cheap, idempotent. */
    void wake();

    /**
     * Runs {@code task} on the loop's thread before the next step and completes the future with its result.
     * For work that must happen on the thread that outlives it (a child with a parent-death signal).
     */
    <T> CompletableFuture<T> submit(Callable<T> task);

    /** Stops the loop after the step in progress, if any, and waits for it; later calls do nothing. */
    @Override
    void close();
}
