package io.istiovm.agent.lifecycle;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Keeps Netty's I/O event loops asleep while they have nothing to do. Netty 4.2's loop blocks in epoll_wait only
 * until its next scheduled task, and with none scheduled it wakes every second
 * ({@code SingleThreadEventExecutor.delayNanos}, {@code SCHEDULE_PURGE_INTERVAL}; 4.1's NioEventLoop blocked
 * indefinitely): an idle agent's status server and SDS server were 60 wakeups a minute each. One far-off no-op task
 * on every loop of the group makes that the next deadline, so a loop sleeps until a connection, a task or the hour.
 */
public final class IdleEventLoops {
    private static final Runnable NOTHING = () -> { };

    private IdleEventLoops() {
    }

    /** Schedules the far-off no-op on each of {@code group}'s loops; returns the group. */
    public static <G extends EventLoopGroup> G sleepWhenIdle(G group) {
        for (EventExecutor loop : group) {
            loop.scheduleAtFixedRate(NOTHING, 1, 1, TimeUnit.HOURS);
        }
        return group;
    }
}
