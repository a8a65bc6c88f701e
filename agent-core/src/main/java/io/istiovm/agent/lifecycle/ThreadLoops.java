package io.istiovm.agent.lifecycle;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link Loops} for the daemon: each loop is one thread that waits on a condition until its step is due by the
 * injected clock, it is woken, or a task arrives. It re-reads the clock at least every {@link #CHECK_IN}, so that a
 * jump of the wall clock (suspend, NTP) is noticed and the loop's heartbeat keeps moving while it idles.
 */
public final class ThreadLoops implements Loops {
    private static final Logger LOG = LoggerFactory.getLogger(ThreadLoops.class);
    /** How often an idle loop wakes to re-read the clock and check in. */
    static final Duration CHECK_IN = Duration.ofSeconds(5);
    /** The pause before a step that threw runs again. */
    static final Duration RETRY_AFTER = Duration.ofSeconds(1);

    private final Clock clock;

    public ThreadLoops(Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    public Clock clock() {
        return clock;
    }

    @Override
    public Loop start(String name, Step step, Runnable onProgress) {
        ThreadLoop loop = new ThreadLoop(name, step, onProgress);
        Thread thread = new Thread(loop::run, name);
        thread.setDaemon(true);
        loop.thread = thread;
        thread.start();
        return loop;
    }

    private final class ThreadLoop implements Loop {
        private final String name;
        private final Step step;
        private final Runnable onProgress;
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition signal = lock.newCondition();
        private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
        private Thread thread;
        private boolean woken = true;
        private boolean closed;
        private Instant due = Instant.MIN;

        ThreadLoop(String name, Step step, Runnable onProgress) {
            this.name = Objects.requireNonNull(name, "name");
            this.step = Objects.requireNonNull(step, "step");
            this.onProgress = Objects.requireNonNull(onProgress, "onProgress");
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void wake() {
            lock.lock();
            try {
                woken = true;
                signal.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public <T> CompletableFuture<T> submit(Callable<T> task) {
            CompletableFuture<T> result = new CompletableFuture<>();
            if (Thread.currentThread() == thread) {
                complete(result, task);
                return result;
            }
            lock.lock();
            try {
                if (closed) {
                    result.completeExceptionally(new IllegalStateException("loop " + name + " is closed"));
                    return result;
                }
                tasks.add(() -> complete(result, task));
                signal.signalAll();
            } finally {
                lock.unlock();
            }
            return result;
        }

        private <T> void complete(CompletableFuture<T> result, Callable<T> task) {
            try {
                result.complete(task.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        }

        void run() {
            // Every line this loop logs names its component (the journal's COMPONENT field); lines of threads that
            // run no loop are the engine's ("agent").
            LogComponent.forThisThread(name);
            try {
                runUntilClosed();
            } finally {
                // Also when an Error ends the thread: nothing may wait forever on a task this thread will never run.
                lock.lock();
                try {
                    closed = true;
                    runPendingTasks();
                } finally {
                    lock.unlock();
                }
            }
        }

        private void runUntilClosed() {
            while (true) {
                Runnable task;
                boolean runStep;
                lock.lock();
                try {
                    while (!closed && tasks.isEmpty() && !woken && clock.instant().isBefore(due)) {
                        long wait = Math.min(Duration.between(clock.instant(), due).toNanos(), CHECK_IN.toNanos());
                        if (wait > 0 && !signal.await(wait, TimeUnit.NANOSECONDS) && clock.instant().isBefore(due)) {
                            checkIn();
                        }
                    }
                    if (closed) {
                        return;
                    }
                    task = tasks.poll();
                    runStep = task == null;
                    if (runStep) {
                        woken = false;
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } finally {
                    lock.unlock();
                }
                if (task != null) {
                    task.run();
                    continue;
                }
                Instant next;
                Instant now = clock.instant();
                try {
                    next = step.run(now);
                } catch (Exception | Error e) {
                    if (e instanceof Error && !(e instanceof OutOfMemoryError) && !(e instanceof StackOverflowError)) {
                        throw (Error) e;
                    }
                    LOG.error("loop {}: step failed, running it again in {} s: {}", name, RETRY_AFTER.toSeconds(),
                            e.toString());
                    next = now.plus(RETRY_AFTER);
                }
                lock.lock();
                try {
                    due = next;
                } finally {
                    lock.unlock();
                }
                checkIn();
            }
        }

        private void checkIn() {
            try {
                onProgress.run();
            } catch (RuntimeException e) {
                LOG.warn("loop {}: progress listener failed: {}", name, e.toString());
            }
        }

        private void runPendingTasks() {
            for (Runnable task : tasks) {
                task.run();
            }
            tasks.clear();
        }

        @Override
        public void close() {
            lock.lock();
            try {
                if (closed) {
                    return;
                }
                closed = true;
                signal.signalAll();
            } finally {
                lock.unlock();
            }
            if (Thread.currentThread() == thread) {
                return;
            }
            boolean interrupted = false;
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
