package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The far-off task keeps an idle loop asleep, but changes nothing else: work still runs, shutdown still ends. */
class IdleEventLoopsTest {
    @Test
    void theLoopStillRunsWorkAtOnceAndShutsDownWithoutWaitingForTheHour() throws Exception {
        MultiThreadIoEventLoopGroup group = IdleEventLoops.sleepWhenIdle(
                new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory()));
        try {
            CompletableFuture<String> ran = new CompletableFuture<>();
            group.next().execute(() -> ran.complete(Thread.currentThread().getName()));
            assertThat(ran.get(10, TimeUnit.SECONDS)).isNotEmpty();
            CompletableFuture<Boolean> scheduled = new CompletableFuture<>();
            group.next().schedule(() -> scheduled.complete(true), 1, TimeUnit.MILLISECONDS);
            assertThat(scheduled.get(10, TimeUnit.SECONDS)).isTrue();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS);
        }
        assertThat(group.awaitTermination(30, TimeUnit.SECONDS)).as("terminated").isTrue();
    }
}
