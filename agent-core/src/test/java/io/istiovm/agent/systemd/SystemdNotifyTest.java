package io.istiovm.agent.systemd;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Lifecycle;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The notifier over the real lifecycle engine with stepped loops, against a notify socket the test binds: the exact
 * datagrams systemd would receive for start, readiness, watchdog, a hung loop, reload and stop.
 */
class SystemdNotifyTest {
    private static final NotifySettings SETTINGS = new NotifySettings(Duration.ofSeconds(60),
            Duration.ofSeconds(110), Duration.ofSeconds(30), Duration.ofSeconds(5));
    private static final Duration WATCHDOG = Duration.ofSeconds(30);

    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T20:00:00Z"));
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState state = new AgentState(clock);
    private final Lifecycle lifecycle = new Lifecycle(state, loops);
    private final Map<String, StatusReporter> reporters = new HashMap<>();
    private final Map<String, Boolean> hung = new HashMap<>();
    private NotifySocket systemd;
    private SystemdNotify notify;

    /** A component with a loop that checks in every 5 s, as an idle ThreadLoops loop does, until the test hangs it. */
    private final class Looping implements Component, Prepared, Running {
        private final String name;
        private Loop loop;

        Looping(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Prepared prepare() {
            return this;
        }

        @Override
        public void describe(PrintWriter out) {
        }

        @Override
        public Running start(ComponentContext context) {
            reporters.put(name, context.status());
            context.status().starting("waiting");
            // A hung step never returns: no more progress. ManualLoops runs steps on the test's thread, so the
            // hang is a step that reports once more and is never due again.
            loop = context.startLoop(now -> hung.getOrDefault(name, false) ? now.plus(Duration.ofDays(365))
                    : now.plusSeconds(5));
            return this;
        }

        @Override
        public Reconciled reload(Prepared next) {
            return Reconciled.unchanged();
        }

        @Override
        public void stop() {
            loop.close();
        }
    }

    @AfterEach
    void close() throws Exception {
        if (notify != null) {
            notify.close();
        }
        if (systemd != null) {
            systemd.close();
        }
    }

    private void start(Optional<Duration> watchdog) throws Exception {
        systemd = NotifySocket.path();
        notify = new SystemdNotify(Notifier.to(systemd.address()), watchdog, SETTINGS, clock, () -> 123_456_789L);
        notify.attach(state, loops);
        lifecycle.start(lifecycle.prepare(List.of(new Looping("identity"), new Looping("envoy"))));
    }

    private void allReady() {
        reporters.get("identity").facts(Map.of("spiffe_id", "spiffe://cluster.local/ns/vm/sa/default"));
        reporters.get("identity").ready("valid");
        reporters.get("envoy").facts(Map.of("epoch", "0"));
        reporters.get("envoy").ready("LIVE");
    }

    @Test
    void readyOnlyOnceEveryComponentServesAndStatusOnlyWhenItChanges() throws Exception {
        start(Optional.empty());
        List<String> starting = systemd.queued();
        assertThat(starting).first().isEqualTo("STATUS=preparing");
        assertThat(starting).noneMatch(m -> m.contains("READY=1")).last().asString()
                .isEqualTo("STATUS=identity: starting (waiting); envoy: starting (waiting)");
        loops.runDue();
        reporters.get("identity").ready("valid");
        assertThat(systemd.queued()).noneMatch(m -> m.contains("READY=1"));

        allReady();
        assertThat(systemd.queued()).contains("READY=1\nSTATUS=ready: spiffe://cluster.local/ns/vm/sa/default, "
                + "epoch 0");
        // Loops checking in move timestamps, not the line: nothing to send.
        loops.advance(Duration.ofSeconds(20));
        assertThat(systemd.queued()).noneMatch(m -> m.contains("STATUS="));
        reporters.get("envoy").degraded("admin slow");
        assertThat(systemd.queued()).containsExactly("STATUS=ready: spiffe://cluster.local/ns/vm/sa/default, "
                + "epoch 0; envoy: degraded (admin slow)");
    }

    @Test
    void watchdogPingsAtHalfItsTimeoutAndStopWhenALoopHangs() throws Exception {
        start(Optional.of(WATCHDOG));
        allReady();
        loops.runDue();
        systemd.queued();
        assertThat(notify.interval()).isEqualTo(Duration.ofSeconds(15));
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).containsExactly("WATCHDOG=1");
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).containsExactly("WATCHDOG=1");

        hung.put("envoy", true);
        // The envoy loop's next step is its last; within staleAfter (75 s) of it the pings go on.
        loops.advance(Duration.ofSeconds(75));
        assertThat(systemd.queued()).containsOnly("WATCHDOG=1").hasSize(5);
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).as("envoy made no progress for more than 75 s").isEmpty();
        loops.advance(Duration.ofMinutes(5));
        assertThat(systemd.queued()).isEmpty();

        // A loop that comes back (here: the test un-hangs and wakes it) resumes the pings.
        hung.put("envoy", false);
        loops.loop("envoy").wake();
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).contains("WATCHDOG=1");
    }

    @Test
    void theStartIsExtendedWhileInProgressAndWithinItsBound() throws Exception {
        start(Optional.of(WATCHDOG));
        loops.runDue();
        assertThat(systemd.queued()).contains("WATCHDOG=1\nEXTEND_TIMEOUT_USEC=45000000");
        loops.advance(Duration.ofSeconds(90));
        assertThat(systemd.queued()).hasSize(6).endsWith("WATCHDOG=1\nEXTEND_TIMEOUT_USEC=35000000",
                "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=20000000");
        // At 105 s the bound (110 s) leaves 5 s: the extension shrinks to it; after it there is none.
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).containsExactly("WATCHDOG=1\nEXTEND_TIMEOUT_USEC=5000000");
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).containsExactly("WATCHDOG=1");
        allReady();
        assertThat(systemd.queued()).as("late, but ready").endsWith("READY=1\nSTATUS=ready: "
                + "spiffe://cluster.local/ns/vm/sa/default, epoch 0");
    }

    @Test
    void reloadIsReloadingWithTheMonotonicTimeThenReadyAndStopIsStoppingWithTheDrainExtended() throws Exception {
        start(Optional.of(WATCHDOG));
        allReady();
        loops.runDue();
        systemd.queued();

        notify.reloading();
        assertThat(systemd.queued()).containsExactly("RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading");
        notify.reloaded();
        assertThat(systemd.queued()).containsExactly("READY=1\nSTATUS=ready: "
                + "spiffe://cluster.local/ns/vm/sa/default, epoch 0");

        notify.stopping();
        assertThat(systemd.queued()).containsExactly("STOPPING=1\nSTATUS=stopping");
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).containsExactly("WATCHDOG=1\nEXTEND_TIMEOUT_USEC=15000000");
        loops.advance(Duration.ofSeconds(15));
        assertThat(systemd.queued()).as("the stop's bound (30 s) is reached").containsExactly("WATCHDOG=1");
        lifecycle.stop();
        notify.close();
        assertThat(systemd.queued()).allMatch(m -> m.startsWith("STATUS=stop"));
        notify.reloading();
        assertThat(systemd.queued()).as("nothing after close").isEmpty();
    }

    @Test
    void aWatchdogOfAnotherPidIsNotOursAndWithoutNotifySocketNothingRuns() throws Exception {
        systemd = NotifySocket.path();
        notify = SystemdNotify.fromEnvironment(Map.of("NOTIFY_SOCKET", systemd.env(), "WATCHDOG_USEC", "30000000",
                "WATCHDOG_PID", "1"), SETTINGS, clock);
        notify.attach(state, loops);
        lifecycle.start(lifecycle.prepare(List.of(new Looping("envoy"))));
        reporters.get("envoy").ready("LIVE");
        loops.advance(Duration.ofMinutes(5));
        assertThat(systemd.queued()).contains("READY=1\nSTATUS=ready").noneMatch(m -> m.contains("WATCHDOG"));
        notify.close();

        SystemdNotify none = SystemdNotify.fromEnvironment(Map.of("WATCHDOG_USEC", "30000000"), SETTINGS, clock);
        assertThat(none.enabled()).isFalse();
        AgentState other = new AgentState(clock);
        none.attach(other, loops);
        assertThat(loops.open()).doesNotContain("systemd");
        none.reloading();
        none.stopping();
        none.close();
    }
}
