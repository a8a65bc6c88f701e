package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.SteppingClock;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The daemon's loops on real threads. Each test synchronises on what the loop hands over (a queue, a future), never
 * on elapsed time: a step that is due in the far future must not run, a woken one must.
 */
class ThreadLoopsTest {
    private static final long WAIT_SECONDS = 10;
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T00:00:00Z"));
    private final ThreadLoops loops = new ThreadLoops(clock);

    @Test
    void runsAtOnceThenOnlyWhenWokenWhileTheNextRunIsFarAway() throws Exception {
        BlockingQueue<Instant> runs = new LinkedBlockingQueue<>();
        java.util.concurrent.atomic.AtomicInteger progress = new java.util.concurrent.atomic.AtomicInteger();
        try (Loop loop = loops.start("test", now -> {
            runs.add(now);
            return now.plusSeconds(3600);
        }, progress::incrementAndGet)) {
            assertThat(runs.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo(clock.instant());
            loop.wake();
            assertThat(runs.poll(WAIT_SECONDS, TimeUnit.SECONDS)).as("woken").isNotNull();
        }
        assertThat(progress.get()).as("each step reported progress").isGreaterThanOrEqualTo(2);
        assertThat(runs).as("nothing ran that was not due or woken").isEmpty();
    }

    @Test
    void submittedTasksRunOnTheLoopThreadBetweenSteps() throws Exception {
        AtomicReference<Thread> stepThread = new AtomicReference<>();
        BlockingQueue<String> ran = new LinkedBlockingQueue<>();
        try (Loop loop = loops.start("owner", now -> {
            stepThread.set(Thread.currentThread());
            ran.add("step");
            return now.plusSeconds(3600);
        }, () -> { })) {
            assertThat(ran.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo("step");
            Thread taskThread = loop.submit(Thread::currentThread).get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertThat(taskThread).isSameAs(stepThread.get()).extracting(Thread::getName).isEqualTo("owner");
        }
    }

    @Test
    void aLoopThreadNamesItsComponentForTheLog() throws Exception {
        BlockingQueue<String> component = new LinkedBlockingQueue<>();
        try (Loop loop = loops.start("identity", now -> {
            component.add(String.valueOf(org.slf4j.MDC.get("COMPONENT")));
            return now.plusSeconds(3600);
        }, () -> { })) {
            assertThat(component.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo("identity");
        }
    }

    @Test
    void aStepThatThrowsDoesNotEndTheLoop() throws Exception {
        BlockingQueue<Instant> runs = new LinkedBlockingQueue<>();
        try (Loop loop = loops.start("failing", now -> {
            runs.add(now);
            throw new IllegalStateException("boom");
        }, () -> { })) {
            assertThat(runs.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isNotNull();
            loop.wake();
            assertThat(runs.poll(WAIT_SECONDS, TimeUnit.SECONDS)).as("the loop still runs").isNotNull();
        }
    }

    @Test
    void aLoopEndedByAnErrorNeverLeavesATaskWaiting() throws Exception {
        BlockingQueue<String> ran = new LinkedBlockingQueue<>();
        Loop loop = loops.start("dying", now -> {
            ran.add("step");
            throw new AssertionError("a bug");
        }, () -> { });
        assertThat(ran.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo("step");
        // Queued before or after the thread ended: either way the future completes, and never hangs a caller.
        assertThat(loop.submit(() -> "task").handle((value, failure) -> "done")
                .get(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo("done");
        loop.close();
    }

    @Test
    void closeWaitsForTheStepInProgressAndStopsTheThread() throws Exception {
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        AtomicReference<Thread> thread = new AtomicReference<>();
        Loop loop = new ThreadLoops(Clock.systemUTC()).start("closing", now -> {
            thread.set(Thread.currentThread());
            events.add("step");
            return now.plusSeconds(3600);
        }, () -> { });
        assertThat(events.poll(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo("step");
        loop.close();
        assertThat(thread.get().isAlive()).isFalse();
        loop.close();
        assertThat(loop.submit(() -> "late")).isCompletedExceptionally();
    }
}
