package io.istiovm.agent.testing;

import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Loops;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * {@link Loops} for tests: no threads. Steps run on the test's thread when the test calls {@link #runDue()} or
 * {@link #advance(Duration)}, with {@code now} from a {@link SteppingClock}; {@link Loop#submit} runs its task at
 * once on the caller's thread. A test thus moves time by hours in microseconds and sees exactly which steps ran.
 */
public final class ManualLoops implements Loops {
    /** A step that keeps asking to run again at once is a bug in the step; stop instead of spinning. */
    private static final int MAX_ROUNDS = 10_000;

    private final SteppingClock clock;
    private final List<ManualLoop> loops = new ArrayList<>();

    public ManualLoops(SteppingClock clock) {
        this.clock = clock;
    }

    @Override
    public SteppingClock clock() {
        return clock;
    }

    @Override
    public synchronized Loop start(String name, Step step, Runnable onProgress) {
        ManualLoop loop = new ManualLoop(name, step, onProgress);
        loops.add(loop);
        return loop;
    }

    /** The open loop named {@code name}. */
    public synchronized Loop loop(String name) {
        return loops.stream().filter(l -> l.name.equals(name) && !l.closed).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no open loop " + name));
    }

    /** Names of the loops that are open. */
    public synchronized List<String> open() {
        return loops.stream().filter(l -> !l.closed).map(l -> l.name).toList();
    }

    /** Runs every step that is due now or woken, until none is; returns how many steps ran. */
    public int runDue() {
        int ran = 0;
        for (int round = 0; round < MAX_ROUNDS; round++) {
            Optional<ManualLoop> due = nextDue();
            if (due.isEmpty()) {
                return ran;
            }
            due.get().step();
            ran++;
        }
        throw new IllegalStateException("steps still due after " + MAX_ROUNDS + " rounds: a step that never waits");
    }

    /**
     * Moves the clock forward by {@code step}, stopping at each instant a loop is due on the way and running what
     * is due there, as the daemon's threads would have; returns how many steps ran.
     */
    public int advance(Duration step) {
        Instant target = clock.instant().plus(step);
        int ran = runDue();
        while (true) {
            Optional<Instant> next = nextWake();
            if (next.isEmpty() || next.get().isAfter(target)) {
                break;
            }
            if (next.get().isAfter(clock.instant())) {
                clock.set(next.get());
            }
            ran += runDue();
        }
        clock.set(target);
        return ran + runDue();
    }

    /** The earliest instant a loop wants to run at. */
    public synchronized Optional<Instant> nextWake() {
        return loops.stream().filter(l -> !l.closed).map(l -> l.due).min(Instant::compareTo);
    }

    private synchronized Optional<ManualLoop> nextDue() {
        Instant now = clock.instant();
        return loops.stream().filter(l -> !l.closed && (l.woken || !l.due.isAfter(now))).findFirst();
    }

    private final class ManualLoop implements Loop {
        private final String name;
        private final Step step;
        private final Runnable onProgress;
        private volatile boolean woken = true;
        private volatile boolean closed;
        private volatile Instant due = Instant.MIN;

        ManualLoop(String name, Step step, Runnable onProgress) {
            this.name = name;
            this.step = step;
            this.onProgress = onProgress;
        }

        void step() {
            woken = false;
            Instant now = clock.instant();
            try {
                due = step.run(now);
            } catch (Exception e) {
                // As the daemon's loops do: the step runs again a little later.
                due = now.plusSeconds(1);
            }
            onProgress.run();
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void wake() {
            woken = true;
        }

        @Override
        public <T> CompletableFuture<T> submit(Callable<T> task) {
            CompletableFuture<T> result = new CompletableFuture<>();
            try {
                result.complete(task.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
            return result;
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
