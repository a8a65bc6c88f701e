package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.MetricValues;
import io.istiovm.agent.testing.SteppingClock;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The running block against real files, built through the assembly from a cluster.env, on stepped loops: time
 * moves only when a test advances the clock. Changes reach the component through the real inotify watch; a test
 * that waits for one steps the clock while it waits, with a deadline, and never waits for time itself.
 */
class HostsComponentTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration CHECK_INTERVAL = Duration.ofMinutes(10);

    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T00:00:00Z"));
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState agent = new AgentState(clock);
    private final FileEvents events = new FileEvents(FileSystems.getDefault());
    private HostsScratch scratch;
    private Assembly assembly;
    private Running running;
    private byte[] original;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1", "VM_AGENT_HOSTS_VERIFY_INTERVAL=10m");
        scratch.dropIn("httpbin-bar-forvms.yaml", HostsGoldenTest.manifest("httpbin-bar-forvms.yaml"));
        original = scratch.targetBytes();
        assembly = new Assembly(new AgentRuntime(clock, loops, events,
                new HostPaths(scratch.root().resolve("etc"), scratch.root().resolve("proc")), CliRun.TEST_HOST));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (running != null) {
            running.stop();
        }
        events.close();
        scratch.close();
    }

    /** The component the daemon would run for the scratch directory's configuration as it is now. */
    private Component component() {
        List<Component> components = assembly.hostsOnly(scratch.load());
        assertThat(components).hasSize(1);
        return components.get(0);
    }

    private Running start() throws Exception {
        running = component().prepare().start(ComponentContext.of("hosts", loops, agent));
        // The loop's first step, which the daemon runs at once.
        loops.runDue();
        return running;
    }

    private void stop() throws Exception {
        Running stopping = running;
        running = null;
        stopping.stop();
    }

    private ComponentState state() {
        return agent.snapshot().component("hosts").orElseThrow();
    }

    /**
     * Steps the clock a quiet period at a time until {@code condition} holds, with a deadline on real time. Only a
     * file event can get the loop there: in the time allowed the clock moves by under a minute, far from the check
     * interval. An event that arrives late (such as the echo of the agent's own last write) just defers the write
     * by another quiet period.
     */
    private void settleUntil(String what, Callable<Boolean> condition) throws Exception {
        Await.until(what, WAIT, () -> {
            loops.advance(HostsComponent.QUIET);
            return condition.call();
        }, () -> state() + "\n" + scratch.targetText());
    }

    /**
     * Lets every pending file event reach the loop, then closes the watch, so that only the clock moves the loop.
     * A renamed-in hosts source (empty: the block stays) is the last event; the test's own listener on the
     * configuration directory, called after the component's, sees it once every earlier event (the start's own
     * write) has been dispatched too, since one thread dispatches them in order.
     */
    private void noMoreFileEvents() throws Exception {
        Path sentinel = scratch.config().resolve("hosts");
        AtomicBoolean dispatched = new AtomicBoolean();
        FileEvents.Registration listener = events.watch(scratch.config(), paths -> {
            if (paths.contains(sentinel)) {
                dispatched.set(true);
            }
        });
        Path temporary = Files.writeString(scratch.config().resolve(".hosts.tmp"), "");
        Files.move(temporary, sentinel, StandardCopyOption.ATOMIC_MOVE);
        Await.until("the last file event dispatched", WAIT, dispatched::get);
        listener.close();
        events.close();
        loops.advance(HostsComponent.QUIET);
    }

    @Test
    void startWritesTheBlockAndStopRemovesIt() throws Exception {
        start();
        assertThat(state().phase()).isEqualTo(Phase.READY);
        assertThat(state().reason()).isEqualTo("block of 2 line(s) in " + scratch.target());
        assertThat(state().facts()).containsEntry("entries", "2").containsEntry("file", scratch.target().toString());
        assertThat(MetricValues.of(agent.metrics(), "hosts_updates_total")).isEqualTo(1);
        assertThat(scratch.targetText()).contains("127.255.0.3 httpbin.bar.global ");
        assertThat(loops.open()).containsExactly("hosts");
        stop();
        assertThat(scratch.targetBytes()).isEqualTo(original);
        assertThat(loops.open()).isEmpty();
    }

    @Test
    void aChangedSourceIsPickedUp() throws Exception {
        start();
        scratch.dropIn("20-more.hosts", "127.255.0.7 more.bar.global\n");
        settleUntil("new name written", () -> scratch.targetText().contains("127.255.0.7 more.bar.global "));
        Files.delete(scratch.dropIns().resolve("20-more.hosts"));
        settleUntil("removed name gone", () -> !scratch.targetText().contains("more.bar.global"));
        scratch.hostsSource("192.168.99.1 istiod.istio-system.svc\n");
        settleUntil("hosts file read", () -> scratch.targetText()
                .contains("VM_AGENT_GATEWAY_ADDRESS (cluster.env:2), hosts:1"));
    }

    @Test
    void aChangeIsWrittenOnceTheQuietPeriodHasPassed() throws Exception {
        start();
        scratch.dropIn("20-more.hosts", "127.255.0.7 more.bar.global\n");
        Await.until("the hosts loop woken by a file event", WAIT, () -> loops.runDue() > 0);
        // Noted, not yet written: an editor's write-rename-chmod, or a burst of changes, becomes one write.
        assertThat(loops.nextWake()).contains(clock.instant().plus(HostsComponent.QUIET));
        assertThat(scratch.targetText()).doesNotContain("more.bar.global");
        loops.advance(HostsComponent.QUIET);
        assertThat(scratch.targetText()).contains("127.255.0.7 more.bar.global ");
    }

    @Test
    void anEditOfTheBlockIsRepairedAsSoonAsItIsSeen() throws Exception {
        start();
        String good = scratch.targetText();
        Files.writeString(scratch.target(), good.replace("127.255.0.3 httpbin", "10.6.6.6 httpbin"));
        settleUntil("block repaired", () -> scratch.targetText().equals(good));
    }

    @Test
    void anEditNoEventReportedIsRepairedAtTheCheckInterval() throws Exception {
        start();
        noMoreFileEvents();
        assertThat(loops.nextWake()).contains(clock.instant().plus(CHECK_INTERVAL));
        String good = scratch.targetText();
        Files.writeString(scratch.target(), good.replace("127.255.0.3 httpbin", "10.6.6.6 httpbin"));

        loops.advance(CHECK_INTERVAL.minusMillis(1));
        assertThat(scratch.targetText()).as("before the check").contains("10.6.6.6 httpbin");
        loops.advance(Duration.ofMillis(1));
        assertThat(scratch.targetText()).as("repaired by the periodic check").isEqualTo(good);
        assertThat(state().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void invalidSourcesKeepThePreviousBlockUntilTheyAreFixed() throws Exception {
        start();
        byte[] good = scratch.targetBytes();
        scratch.dropIn("20-bad.hosts", "127.255.0.300 broken.global\n127.255.0.8 next.global\n");
        settleUntil("failed", () -> state().phase() == Phase.FAILED);
        assertThat(state().reason()).isEqualTo("hosts sources are invalid, the block is kept as it was: error: "
                + scratch.dropIns().resolve("20-bad.hosts") + ":1: bad address: '127.255.0.300': octet 300 is "
                + "larger than 255");
        assertThat(scratch.targetBytes()).isEqualTo(good);

        scratch.dropIn("20-bad.hosts", "127.255.0.8 next.global\n");
        settleUntil("fixed source applied", () -> scratch.targetText().contains("127.255.0.8 next.global "));
        assertThat(state().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void aDropInDirectoryCreatedLaterIsWatched() throws Exception {
        try (var files = Files.list(scratch.dropIns())) {
            for (var file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(scratch.dropIns());
        start();
        Files.createDirectory(scratch.dropIns());
        settleUntil("hosts.d watched", () -> events.watching(scratch.dropIns()));

        scratch.dropIn("late.hosts", "127.255.0.9 late.global\n");
        settleUntil("late drop-in applied", () -> scratch.targetText().contains("127.255.0.9 late.global "));
    }

    @Test
    void invalidSourcesAreRefusedByPrepareAndChangeNothing() throws IOException {
        scratch.dropIn("20-bad.hosts", "127.255.0.3 -bad\n");
        assertThatThrownBy(() -> component().prepare()).isInstanceOf(ConfigException.class)
                .hasMessageContaining("20-bad.hosts:1: bad host name");
        assertThat(scratch.targetBytes()).isEqualTo(original);
    }

    @Test
    void describePrintsThePlanWithoutWriting() throws Exception {
        StringWriter out = new StringWriter();
        component().prepare().describe(new PrintWriter(out, true));
        assertThat(out.toString()).startsWith("# hosts file: " + scratch.target() + " (changes)\n+ "
                + HostsBlock.BEGIN + "\n+ 127.255.0.3 httpbin.bar.global");
        assertThat(scratch.targetBytes()).isEqualTo(original);
    }

    @Test
    void reloadRewritesTheBlockWhenTheGatewayChanged() throws Exception {
        start();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.2", "VM_AGENT_GATEWAY_NAMES=extra.example.com");
        Reconciled outcome = running.reload(component().prepare());
        assertThat(outcome).isEqualTo(Reconciled.changed("block rewritten (2 line(s), replaced atomically)"));
        assertThat(scratch.targetText()).contains("192.168.99.2 extra.example.com istio-citadel ")
                .doesNotContain("192.168.99.1");
        assertThat(state().phase()).isEqualTo(Phase.READY);

        // The running loop plans with the reloaded settings from now on.
        Files.writeString(scratch.target(), scratch.targetText().replace("192.168.99.2", "10.6.6.6"));
        settleUntil("drift repaired with the reloaded gateway", () -> !scratch.targetText().contains("10.6.6.6"));
        assertThat(scratch.targetText()).contains("192.168.99.2 extra.example.com");
    }

    @Test
    void reloadRewritesTheBlockWhenADropInChanged() throws Exception {
        start();
        // Before the loop runs again: only the reload can have written it.
        scratch.dropIn("20-more.hosts", "127.255.0.7 more.bar.global\n");
        Reconciled outcome = running.reload(component().prepare());
        assertThat(outcome.changed()).isTrue();
        assertThat(scratch.targetText()).contains("127.255.0.7 more.bar.global ");
    }

    @Test
    void reloadWithTheSameConfigurationLeavesTheFileUntouched() throws Exception {
        start();
        byte[] before = scratch.targetBytes();
        BasicFileAttributes attributes = Files.readAttributes(scratch.target(), BasicFileAttributes.class);
        Reconciled outcome = running.reload(component().prepare());
        assertThat(outcome).isEqualTo(Reconciled.unchanged());
        BasicFileAttributes after = Files.readAttributes(scratch.target(), BasicFileAttributes.class);
        assertThat(scratch.targetBytes()).isEqualTo(before);
        assertThat(after.fileKey()).as("the same inode").isEqualTo(attributes.fileKey());
        assertThat(after.lastModifiedTime()).isEqualTo(attributes.lastModifiedTime());
    }

    @Test
    void reloadAppliesANewCheckInterval() throws Exception {
        start();
        noMoreFileEvents();
        scratch.clusterEnv("VM_AGENT_HOSTS_VERIFY_INTERVAL=1m");
        assertThat(running.reload(component().prepare())).isEqualTo(Reconciled.unchanged());
        loops.runDue();
        assertThat(loops.nextWake()).contains(clock.instant().plus(Duration.ofMinutes(1)));
    }

    @Test
    void reloadWithANewCheckIntervalKeepsAChangeNotYetWritten() throws Exception {
        start();
        // A change the loop notes (one that leaves the block as it is, so the reload writes nothing), then a
        // reload before the quiet period is over.
        scratch.dropIn("20-empty.hosts", "# nothing yet\n");
        Await.until("the hosts loop woken by a file event", WAIT, () -> loops.runDue() > 0);
        scratch.clusterEnv("VM_AGENT_HOSTS_VERIFY_INTERVAL=1m");
        assertThat(running.reload(component().prepare())).isEqualTo(Reconciled.unchanged());
        loops.runDue();
        assertThat(loops.nextWake()).as("the noted change is still written after the quiet period")
                .contains(clock.instant().plus(HostsComponent.QUIET));
    }

    @Test
    void reloadCannotMoveTheBlockToAnotherFile() throws Exception {
        start();
        byte[] before = scratch.targetBytes();
        Path elsewhere = scratch.root().resolve("etc/hosts.other");
        scratch.clusterEnv("VM_AGENT_HOSTS_FILE=" + elsewhere);
        Prepared next = component().prepare();
        Reconciled outcome = running.reload(next);
        assertThat(outcome.changed()).isFalse();
        assertThat(outcome.needsRestart()).contains("the block stays in " + scratch.target() + " with sources from "
                + scratch.config() + "; restart the agent to move it to " + elsewhere + " with sources from "
                + scratch.config());
        assertThat(scratch.targetBytes()).isEqualTo(before);
        assertThat(elsewhere).doesNotExist();
    }
}
