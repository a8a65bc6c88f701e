package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.StatusReporter;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.MetricValues;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The running capture against real netfilter in a scratch namespace, on stepped loops and a stepped clock: when
 * the rules go in (Envoy LIVE, fail-closed, no Envoy at all), the periodic and event-driven repair, reload.
 */
class CaptureComponentTest {
    private static final String SEED = "ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888\n";
    private static final Duration INTERVAL = Duration.ofSeconds(45);

    @TempDir
    Path temp;

    private VmPeerNetwork network;
    private NetfilterTools tools;
    private final List<List<String>> commands = new CopyOnWriteArrayList<>();
    /** Runs after each iptables-restore that changes netfilter (not a --test), as the kernel announces a commit. */
    private volatile Runnable afterRestore = () -> { };
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState state = new AgentState(clock);
    private CaptureComponent.Capturing running;

    @BeforeEach
    void createNamespace() throws Exception {
        network = VmPeerNetwork.create();
        CommandRunner real = CommandRunner.processes();
        CommandRunner recording = (command, stdin, timeout) -> {
            commands.add(command);
            CommandRunner.Result result = real.run(command, stdin, timeout);
            if (command.stream().anyMatch(arg -> arg.endsWith("-restore")) && !command.contains("--test")) {
                afterRestore.run();
            }
            return result;
        };
        tools = new NetfilterTools(recording, List.of(), Optional.empty(), 5, Duration.ofSeconds(60))
                .inNetworkNamespace(network.vm());
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        try {
            if (running != null) {
                running.stop();
            }
        } finally {
            // Also when stop() fails (a test that breaks the rules on purpose): never leave a namespace behind.
            network.close();
        }
    }

    private CaptureComponent component(String clusterEnv, NetfilterTools with, CaptureComponent.ChangeEvents events) {
        return CaptureFixtures.component(clusterEnv + "VM_AGENT_CAPTURE_VERIFY_INTERVAL=" + INTERVAL.toSeconds()
                + "s\n", temp, with, events);
    }

    private CaptureComponent.Capturing start(CaptureComponent component) throws Exception {
        running = component.prepare().start(ComponentContext.of(CaptureComponent.NAME, loops, state));
        return running;
    }

    private ComponentState capture() {
        return state.snapshot().component(CaptureComponent.NAME).orElseThrow();
    }

    private boolean captured() throws Exception {
        return network.vmSave(false).contains("ISTIO_OUTPUT");
    }

    @Test
    void withoutAnEnvoyComponentTheRulesGoInAtOnceAndTheIntervalRepairsDrift() throws Exception {
        CaptureComponent component = component(SEED, tools, CaptureComponent.ChangeEvents.NONE);
        CapturePlan plan = component.prepare().plan();
        CaptureComponent.Capturing capturing = start(component);
        loops.runDue();
        assertThat(captured()).isTrue();
        assertThat(capture().phase()).isEqualTo(Phase.READY);
        assertThat(capture().reason()).isEqualTo("rules in place (nft backend)");
        assertThat(capture().facts()).containsEntry("rules", Integer.toString(plan.ruleCount()))
                .containsEntry("backend", "nft").containsEntry("verified_at", clock.instant().toString());
        assertThat(capture().fact("families").orElseThrow()).startsWith("ipv4");
        assertThat(plan.ruleCount()).isPositive();

        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_OUTPUT");
        loops.advance(INTERVAL.minusSeconds(1));
        assertThat(new NetfilterCapture(tools, Backend.NFT).verify(plan).isEmpty()).as("not due yet").isFalse();
        loops.advance(Duration.ofSeconds(1));
        assertThat(capturing.lastCheck().repaired()).isTrue();
        assertThat(capturing.lastCheck().at()).isEqualTo(clock.instant());
        assertThat(capture().fact("verified_at")).contains(clock.instant().toString());
        assertThat(MetricValues.of(state.metrics(), "capture_rule_repairs_total")).isEqualTo(1);
        assertThat(MetricValues.of(state.metrics(), "capture_rule_verifications_total")).isPositive();
        assertThat(new NetfilterCapture(tools, Backend.NFT).verify(plan).isEmpty()).isTrue();

        // A foreign rule jumping into an agent chain the plan does not have makes repair impossible (the chain
        // cannot be deleted): FAILED, nothing broken. One jumping into a kept chain is fine.
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-N", "OTHER");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-A", "OTHER", "-j", "ISTIO_OUTPUT");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_INBOUND");
        loops.advance(INTERVAL);
        assertThat(capture().phase()).isEqualTo(Phase.READY);
        assertThat(network.vmSave(false)).contains("-A OTHER -j ISTIO_OUTPUT");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-N", "ISTIO_DIVERT");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-A", "OTHER", "-j", "ISTIO_DIVERT");
        loops.advance(INTERVAL);
        assertThat(capture().phase()).isEqualTo(Phase.FAILED);
        assertThat(capture().reason()).contains("could not be verified or repaired").contains("-A OTHER");
        assertThat(network.vmSave(false)).contains("-A OTHER -j ISTIO_DIVERT");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "OTHER");
        loops.advance(INTERVAL);
        assertThat(capture().phase()).isEqualTo(Phase.READY);

        capturing.stop();
        running = null;
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        assertThat(loops.open()).isEmpty();
    }

    @Test
    void byDefaultTheRulesWaitUntilEnvoyIsLiveAndStayWhenItIsNoLonger() throws Exception {
        StatusReporter envoy = state.reporter("envoy");
        envoy.starting("epoch 0 not LIVE yet");
        start(component(SEED, tools, CaptureComponent.ChangeEvents.NONE));
        loops.runDue();
        assertThat(captured()).isFalse();
        assertThat(capture().phase()).isEqualTo(Phase.STARTING);
        assertThat(capture().reason()).isEqualTo(CaptureComponent.WAITING_FOR_ENVOY);
        loops.advance(INTERVAL.multipliedBy(3));
        assertThat(captured()).isFalse();

        envoy.ready("epoch 0 LIVE");
        loops.runDue();
        assertThat(captured()).isTrue();
        assertThat(running.applied()).isTrue();
        assertThat(capture().phase()).isEqualTo(Phase.READY);

        envoy.failed("exited with 1");
        loops.advance(INTERVAL);
        assertThat(captured()).as("Envoy going down later does not remove the rules").isTrue();
        assertThat(capture().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void failClosedPutsTheRulesInWhileStartingBeforeEnvoyIsLive() throws Exception {
        state.reporter("envoy").stopped("not started");
        start(component(SEED + "VM_AGENT_CAPTURE_FAIL_CLOSED=true\n", tools, CaptureComponent.ChangeEvents.NONE));
        assertThat(captured()).as("right after start, before any step").isTrue();
        assertThat(capture().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void reloadReplacesTheRulesOnlyWhenThePlanChanged() throws Exception {
        start(component(SEED, tools, CaptureComponent.ChangeEvents.NONE));
        loops.runDue();
        String applied = network.vmSave(false);

        commands.clear();
        Reconciled same = running.reload(component(SEED, tools, CaptureComponent.ChangeEvents.NONE).prepare());
        assertThat(same).isEqualTo(Reconciled.unchanged());
        assertThat(commands).as("an unchanged plan touches no netfilter").isEmpty();
        assertThat(network.vmSave(false)).isEqualTo(applied);

        Reconciled more = running.reload(component("ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888,9999\n",
                tools, CaptureComponent.ChangeEvents.NONE).prepare());
        assertThat(more.changed()).isTrue();
        assertThat(more.summary()).matches("rules replaced: \\d+ rules");
        assertThat(more.needsRestart()).isEmpty();
        assertThat(commands).as("one transaction per family").filteredOn(c -> c.stream()
                .anyMatch(arg -> arg.endsWith("-restore")) && !c.contains("--test")).hasSize(1);
        assertThat(network.vmSave(false)).contains("--dport 9999");
        loops.advance(INTERVAL);
        assertThat(running.lastCheck().repaired()).as("the new plan is what the loop keeps").isFalse();

        Reconciled legacy = running.reload(component("ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888,9999\n"
                + "VM_AGENT_IPTABLES_BACKEND=legacy\nVM_AGENT_CAPTURE_FAIL_CLOSED=true\n", tools,
                CaptureComponent.ChangeEvents.NONE).prepare());
        assertThat(legacy.changed()).isFalse();
        assertThat(legacy.needsRestart()).hasValueSatisfying(what -> assertThat(what)
                .contains("VM_AGENT_IPTABLES_BACKEND=legacy but the rules are in the nft backend: restart the agent")
                .contains("VM_AGENT_CAPTURE_FAIL_CLOSED=true"));
    }

    @Test
    void reloadFromTproxyToRedirectRemovesThePolicyRoute() throws Exception {
        start(component("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n" + SEED, tools, CaptureComponent.ChangeEvents.NONE));
        loops.runDue();
        assertThat(network.inNamespace(network.vm(), "ip", "rule")).contains("lookup 133");

        assertThat(running.reload(component(SEED, tools, CaptureComponent.ChangeEvents.NONE).prepare()).changed())
                .isTrue();
        assertThat(network.inNamespace(network.vm(), "ip", "rule")).doesNotContain("lookup 133");
        assertThat(network.inNamespace(network.vm(), "iptables-save", "-t", "mangle")).doesNotContain("ISTIO_");
        assertThat(network.vmSave(false)).contains("ISTIO_OUTPUT");
    }

    @Test
    void stopInTproxyModeWithoutInboundPortsLeavesAPolicyRouteItNeverInstalled() throws Exception {
        // Someone else's rule and route with the configured numbers; no mangle rules, so the agent installs neither.
        network.inNamespace(network.vm(), "ip", "rule", "add", "fwmark", "1337", "lookup", "133");
        network.inNamespace(network.vm(), "ip", "route", "replace", "local", "default", "dev", "lo", "table", "133");
        CaptureComponent component = component("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n"
                + "ISTIO_SERVICE_CIDR=10.55.0.0/16\n", tools, CaptureComponent.ChangeEvents.NONE);
        assertThat(component.prepare().plan().tproxyRoute()).isEmpty();
        start(component);
        loops.runDue();
        assertThat(captured()).isTrue();

        running.stop();
        running = null;
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        assertThat(network.inNamespace(network.vm(), "ip", "rule")).contains("lookup 133");
        assertThat(network.inNamespace(network.vm(), "ip", "route", "show", "table", "133"))
                .contains("local default dev lo");
    }

    @Test
    void theAgentsOwnWritesRaiseNoChangeEventButALaterChangeDoes() throws Exception {
        AtomicReference<Runnable> announce = new AtomicReference<>();
        afterRestore = () -> {
            Runnable subscriber = announce.get();
            if (subscriber != null) {
                subscriber.run();
            }
        };
        start(component(SEED, tools, onChange -> {
            announce.set(onChange);
            return () -> announce.set(null);
        }));
        loops.runDue();
        assertThat(running.applied()).isTrue();
        assertThat(loops.nextWake()).as("after the apply").hasValue(running.lastCheck().at().plus(INTERVAL));

        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_OUTPUT");
        announce.get().run();
        loops.advance(CaptureComponent.EVENT_DEBOUNCE);
        assertThat(running.lastCheck().repaired()).isTrue();
        assertThat(loops.nextWake()).as("after the repair").hasValue(running.lastCheck().at().plus(INTERVAL));

        Instant due = running.lastCheck().at().plus(INTERVAL);
        assertThat(running.reload(component("ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888,9999\n",
                tools, CaptureComponent.ChangeEvents.NONE).prepare()).changed()).isTrue();
        loops.runDue();
        assertThat(loops.nextWake()).as("after the replace").hasValue(due);

        announce.get().run();
        loops.runDue();
        assertThat(loops.nextWake()).as("a change by someone else").hasValue(clock.instant()
                .plus(CaptureComponent.EVENT_DEBOUNCE));
    }

    @Test
    void aHeldXtablesLockFailsTheApplyAndTheLoopTriesAgain() throws Exception {
        Path bin = Files.createDirectories(temp.resolve("locked-bin"));
        Path marker = temp.resolve("attempts");
        for (String family : List.of("iptables", "ip6tables")) {
            Path save = bin.resolve(family + "-nft-save");
            Files.writeString(save, "#!/bin/sh\nexec " + family + "-nft-save \"$@\"\n");
            Path restore = bin.resolve(family + "-nft-restore");
            // The first two runs find "the lock" taken (exit 4), as when another tool holds it past --wait.
            Files.writeString(restore, "#!/bin/sh\necho x >> " + marker + "\n"
                    + "[ $(wc -l < " + marker + ") -le 2 ] && { echo 'Another app is currently holding the xtables "
                    + "lock. Stopped waiting after 5s.' >&2; exit 4; }\nexec " + family + "-nft-restore \"$@\"\n");
            for (Path p : List.of(save, restore)) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
        start(component(SEED + "VM_AGENT_IPTABLES_BACKEND=nft\n", tools.withBinDir(bin.toString()),
                CaptureComponent.ChangeEvents.NONE));
        loops.runDue();
        assertThat(capture().phase()).isEqualTo(Phase.FAILED);
        assertThat(capture().reason()).contains("trying again in 2 s")
                .contains("another program held the xtables lock for longer than 5 s");
        assertThat(captured()).isFalse();
        loops.advance(CaptureComponent.APPLY_RETRY);
        assertThat(captured()).isFalse();
        loops.advance(CaptureComponent.APPLY_RETRY);
        assertThat(captured()).isTrue();
        assertThat(capture().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void aChangeEventOnlyWakesTheLoopWhichChecksShortlyAfterOnceForABurst() throws Exception {
        AtomicReference<Runnable> announce = new AtomicReference<>();
        start(component(SEED, tools, onChange -> {
            announce.set(onChange);
            return () -> announce.set(null);
        }));
        loops.runDue();
        Instant applied = running.lastCheck().at();
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_OUTPUT");

        for (int i = 0; i < 3; i++) {
            announce.get().run();
            loops.advance(CaptureComponent.EVENT_DEBOUNCE.dividedBy(4));
        }
        assertThat(running.lastCheck().at()).as("the burst still settling").isEqualTo(applied);
        loops.advance(CaptureComponent.EVENT_DEBOUNCE);
        assertThat(running.lastCheck().repaired()).isTrue();
        assertThat(running.lastCheck().at()).isEqualTo(applied.plus(CaptureComponent.EVENT_DEBOUNCE));
        assertThat(loops.nextWake()).hasValue(running.lastCheck().at().plus(INTERVAL));

        running.stop();
        running = null;
        assertThat(announce.get()).as("unsubscribed on stop").isNull();
    }

    @Test
    void anNftablesChangeEventTriggersTheRepairWithoutWaitingForTheInterval() throws Exception {
        AtomicInteger announced = new AtomicInteger();
        CaptureComponent component = component(SEED, tools, onChange -> NftablesEvents.subscribe(
                Optional.of(network.vm()), () -> {
                    announced.incrementAndGet();
                    onChange.run();
                }));
        CapturePlan plan = component.prepare().plan();
        start(component);
        loops.runDue();

        int before = announced.get();
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F");
        Await.until("nftables announces the flush", Duration.ofSeconds(10), () -> announced.get() > before);
        loops.advance(CaptureComponent.EVENT_DEBOUNCE);
        assertThat(new NetfilterCapture(tools, Backend.NFT).verify(plan).isEmpty()).isTrue();
    }

    /**
     * Another controller that deletes the agent's rule whenever it sees it (and nftables announces each change):
     * the first repairs run at once, then each waits twice as long (1 s, 2 s, 4 s, measured on the stepped clock),
     * the state says who is fighting (the chains), and a clean check ends it.
     */
    @Test
    void repairBacksOffWhileAnotherControllerKeepsRewritingTheRulesAndSaysWhichChains() throws Exception {
        AtomicReference<Runnable> announce = new AtomicReference<>();
        start(component(SEED, tools, onChange -> {
            announce.set(onChange);
            return () -> announce.set(null);
        }));
        loops.runDue();
        List<Instant> repairs = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_OUTPUT");
            announce.get().run();
            CaptureComponent.Check before = running.lastCheck();
            // Step in 100 ms slices until the agent has repaired (at most 10 s of stepped time).
            for (int i = 0; i < 100 && (running.lastCheck() == before || !running.lastCheck().repaired()); i++) {
                loops.advance(Duration.ofMillis(100));
                if (running.lastCheck() != before && !running.lastCheck().repaired()) {
                    assertThat(capture().phase()).isEqualTo(Phase.DEGRADED);
                    assertThat(capture().reason()).contains("another program keeps rewriting")
                            .contains("IPv4 nat ISTIO_OUTPUT");
                }
            }
            assertThat(running.lastCheck().repaired()).as("round " + round + " repaired").isTrue();
            repairs.add(running.lastCheck().at());
        }
        List<Duration> gaps = new ArrayList<>();
        for (int i = 1; i < repairs.size(); i++) {
            gaps.add(Duration.between(repairs.get(i - 1), repairs.get(i)));
        }
        // Round 1 is a repair at once (200 ms debounce); the fight starts at round 2: 1 s, 2 s, 4 s after the last.
        assertThat(gaps.get(0)).isEqualTo(CaptureComponent.EVENT_DEBOUNCE);
        assertThat(gaps.subList(1, 4)).containsExactly(Duration.ofSeconds(1), Duration.ofSeconds(2),
                Duration.ofSeconds(4));
        assertThat(capture().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(capture().reason()).contains("another program keeps rewriting them (IPv4 nat ISTIO_OUTPUT)");

        loops.advance(INTERVAL);
        assertThat(running.lastCheck().drift().isEmpty()).isTrue();
        assertThat(capture().phase()).as("a clean check ends the fight").isEqualTo(Phase.READY);
    }

    /** A VIP added to the hosts block while running is captured (and one removed is no longer) without a reload. */
    @Test
    void theRulesFollowTheHostsBlocksVipsWhileRunning() throws Exception {
        List<java.net.InetAddress> block = new CopyOnWriteArrayList<>(List.of(
                java.net.InetAddress.getByName("127.255.0.3")));
        AtomicReference<Runnable> hostsChanged = new AtomicReference<>();
        HandedOutAddresses handedOut = new HandedOutAddresses() {
            @Override
            public List<java.net.InetAddress> read() {
                return List.copyOf(block);
            }

            @Override
            public AutoCloseable subscribe(Runnable onChange) {
                hostsChanged.set(onChange);
                return () -> hostsChanged.set(null);
            }
        };
        CaptureSettings settings = CaptureFixtures.settings("ISTIO_SERVICE_CIDR=\nVM_AGENT_SSHD_CONFIG="
                + temp.resolve("no-sshd") + "\nVM_AGENT_CAPTURE_VERIFY_INTERVAL=" + INTERVAL.toSeconds() + "s\n");
        running = CaptureFixtures.component(settings, temp, tools, CaptureComponent.ChangeEvents.NONE, handedOut)
                .prepare().start(ComponentContext.of(CaptureComponent.NAME, loops, state));
        loops.runDue();
        assertThat(network.vmSave(false)).contains("-d 127.255.0.3/32").doesNotContain("127.255.0.4");

        block.add(java.net.InetAddress.getByName("127.255.0.4"));
        block.remove(java.net.InetAddress.getByName("127.255.0.3"));
        hostsChanged.get().run();
        loops.runDue();
        assertThat(network.vmSave(false)).contains("-d 127.255.0.4/32").doesNotContain("127.255.0.3");
        assertThat(running.verifyAndRepair().drift().isEmpty()).isTrue();

        block.clear();
        loops.advance(INTERVAL);
        assertThat(network.vmSave(false)).as("followed at the periodic check too, and no VIP means no outbound "
                + "capture with an empty ISTIO_SERVICE_CIDR").doesNotContain("ISTIO_OUTPUT");
    }
}
