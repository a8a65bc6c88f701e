package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Apply, verify and clean against real netfilter in a scratch namespace: backends, TPROXY, takeover, locks. */
class NetfilterCaptureTest {
    private static final String SEED = "ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888\n";

    @TempDir
    Path temp;

    private VmPeerNetwork network;
    private NetfilterTools tools;

    @BeforeEach
    void createNamespace() throws Exception {
        network = VmPeerNetwork.create();
        tools = NetfilterTools.system().inNetworkNamespace(network.vm()).withSleeper(duration -> { });
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        network.close();
    }

    @Test
    void followsTheLegacyBackendWhenThatIsWhereTheHostsRulesAre() throws Exception {
        network.inNamespace(network.vm(), "iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP");
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        assertThat(netfilter.backend()).isEqualTo(Backend.LEGACY);

        CapturePlan plan = TestConfigs.plan(temp, SEED);
        netfilter.apply(plan);
        assertThat(network.inNamespace(network.vm(), "iptables-legacy-save", "-t", "nat")).contains("ISTIO_OUTPUT");
        assertThat(netfilter.verify(plan).isEmpty()).isTrue();
        netfilter.clean(plan.tproxyRoute());
        assertThat(network.inNamespace(network.vm(), "iptables-legacy-save")).doesNotContain("ISTIO_")
                .contains("--dport 9");
    }

    @Test
    void refusesToMixBackends() throws Exception {
        network.inNamespace(network.vm(), "iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP");
        network.inNamespace(network.vm(), "iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP");
        network.inNamespace(network.vm(), "iptables-legacy", "-t", "nat", "-N", "ISTIO_OUTPUT");
        assertThatThrownBy(() -> NetfilterCapture.open(tools, "auto")).isInstanceOf(CaptureException.class)
                .hasMessageContaining("legacy backend");
        assertThatThrownBy(() -> NetfilterCapture.open(tools, "nft")).isInstanceOf(CaptureException.class);
    }

    @Test
    void tproxyModeInstallsMangleChainsAndPolicyRoutingAndRemovesThem() throws Exception {
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        CapturePlan plan = TestConfigs.plan(temp, "ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n"
                + "ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
        netfilter.apply(plan);
        netfilter.apply(plan);
        assertThat(netfilter.verify(plan).isEmpty()).isTrue();
        assertThat(network.inNamespace(network.vm(), "iptables-save", "-t", "mangle")).contains("-j TPROXY");
        assertThat(network.inNamespace(network.vm(), "ip", "rule")).containsOnlyOnce("fwmark 0x539 lookup 133");
        assertThat(network.inNamespace(network.vm(), "ip", "route", "show", "table", "133")).contains("local default");

        network.inNamespace(network.vm(), "ip", "-4", "rule", "del", "fwmark", "1337", "lookup", "133");
        assertThat(netfilter.verify(plan).lines()).extracting(Drift.Line::toString)
                .containsExactly("- IPv4 routing: ip rule fwmark 1337 lookup 133");
        netfilter.apply(plan);
        assertThat(netfilter.verify(plan).isEmpty()).isTrue();

        netfilter.clean(plan.tproxyRoute());
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        assertThat(network.inNamespace(network.vm(), "ip", "rule")).doesNotContain("lookup 133");
    }

    @Test
    void takesOverChainsLeftByIstioIptablesScriptWithoutTouchingOtherRules() throws Exception {
        // What istio-iptables.sh (1.4) leaves behind: the same chain names, no comments, appended jumps.
        for (String[] rule : new String[][] {
            {"-N", "ISTIO_REDIRECT"}, {"-A", "ISTIO_REDIRECT", "-p", "tcp", "-j", "REDIRECT", "--to-port", "15001"},
            {"-N", "ISTIO_OUTPUT"}, {"-A", "OUTPUT", "-p", "tcp", "-j", "ISTIO_OUTPUT"},
            {"-A", "ISTIO_OUTPUT", "-m", "owner", "--uid-owner", "0", "-j", "RETURN"},
            {"-A", "OUTPUT", "-p", "udp", "--dport", "53", "-j", "RETURN"}}) {
            List<String> command = new ArrayList<>(List.of("iptables", "-t", "nat"));
            command.addAll(List.of(rule));
            network.inNamespace(network.vm(), command.toArray(String[]::new));
        }
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        CapturePlan plan = TestConfigs.plan(temp, SEED);
        netfilter.apply(plan);
        String save = network.vmSave(false);
        assertThat(save).doesNotContain("--uid-owner 0 ").contains("-A OUTPUT -p udp -m udp --dport 53 -j RETURN");
        netfilter.clean(plan.tproxyRoute());
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_").contains("--dport 53 -j RETURN");
    }

    @Test
    void retriesWhileTheXtablesLockIsHeld() throws Exception {
        Path bin = Files.createDirectories(temp.resolve("locked-bin"));
        Path marker = temp.resolve("attempts");
        for (String family : List.of("iptables", "ip6tables")) {
            Path save = bin.resolve(family + "-nft-save");
            Files.writeString(save, "#!/bin/sh\nexec " + family + "-nft-save \"$@\"\n");
            Path restore = bin.resolve(family + "-nft-restore");
            // The first two real runs find "the lock" taken (exit 4), as when another tool holds it.
            Files.writeString(restore, "#!/bin/sh\necho x >> " + marker + "\n"
                    + "[ $(wc -l < " + marker + ") -le 2 ] && { echo 'Another app is currently holding the xtables "
                    + "lock.' >&2; exit 4; }\nexec " + family + "-nft-restore \"$@\"\n");
            for (Path p : List.of(save, restore)) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
        List<Duration> waits = new ArrayList<>();
        NetfilterTools locked = tools.withBinDir(bin.toString()).withSleeper(waits::add);
        CapturePlan plan = TestConfigs.plan(temp, SEED);
        new NetfilterCapture(locked, Backend.NFT).apply(plan);
        assertThat(waits).hasSize(2);
        assertThat(new NetfilterCapture(tools, Backend.NFT).verify(plan).isEmpty()).isTrue();
    }

    @Test
    void refusesToReplaceChainsThatForeignRulesJumpInto() throws Exception {
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        CapturePlan plan = TestConfigs.plan(temp, SEED);
        netfilter.apply(plan);
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-N", "DOCKER");
        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-A", "DOCKER", "-j", "ISTIO_INBOUND");
        String before = network.vmSave(false);
        assertThatThrownBy(() -> netfilter.clean(plan.tproxyRoute())).isInstanceOf(CaptureException.class)
                .hasMessageContaining("-A DOCKER");
        assertThat(network.vmSave(false)).isEqualTo(before);
        netfilter.apply(plan);
        assertThat(network.vmSave(false)).as("a kept chain may be referenced").isEqualTo(before);
    }

    @Test
    void theComponentVerifiesOnItsScheduleRepairsAndReportsReadiness() throws Exception {
        List<Runnable> scheduled = new ArrayList<>();
        List<Long> delays = new ArrayList<>();
        ScheduledThreadPoolExecutor recording = new ScheduledThreadPoolExecutor(1) {
            @Override
            public ScheduledFuture<?> scheduleWithFixedDelay(Runnable task, long initialDelay,
                    long delay, TimeUnit unit) {
                scheduled.add(task);
                delays.add(unit.toMillis(delay));
                return super.schedule(() -> { }, 1, TimeUnit.DAYS);
            }
        };
        Instant now = Instant.parse("2026-01-01T00:00:00Z");
        try {
            CaptureComponent component = new CaptureComponent(
                    TestConfigs.load(temp, SEED + "VM_AGENT_CAPTURE_VERIFY_INTERVAL=45s\n"),
                    () -> TestConfigs.plan(temp.resolve("plan"), SEED), tools, recording,
                    Clock.fixed(now, ZoneOffset.UTC), CaptureComponent.ChangeEvents.NONE);
            assertThat(component.ready()).isFalse();
            component.start();
            assertThat(component.ready()).isTrue();
            assertThat(delays).containsExactly(45_000L);

            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_OUTPUT");
            scheduled.get(0).run();
            assertThat(component.lastCheck().repaired()).isTrue();
            assertThat(component.lastCheck().at()).isEqualTo(now);
            assertThat(new NetfilterCapture(tools, Backend.NFT).verify(TestConfigs.plan(temp.resolve("p2"), SEED))
                    .isEmpty()).isTrue();
            assertThat(component.ready()).isTrue();

            // A foreign rule jumping into an agent chain the plan does not have makes repair impossible (the
            // chain cannot be deleted): not ready, nothing broken. One jumping into a kept chain is fine.
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-N", "OTHER");
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-A", "OTHER", "-j", "ISTIO_OUTPUT");
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "ISTIO_INBOUND");
            scheduled.get(0).run();
            assertThat(component.ready()).isTrue();
            assertThat(network.vmSave(false)).contains("-A OTHER -j ISTIO_OUTPUT");
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-N", "ISTIO_DIVERT");
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-A", "OTHER", "-j", "ISTIO_DIVERT");
            scheduled.get(0).run();
            assertThat(component.ready()).isFalse();
            assertThat(network.vmSave(false)).contains("-A OTHER -j ISTIO_DIVERT");
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F", "OTHER");
            scheduled.get(0).run();
            assertThat(component.ready()).isTrue();
            component.stop();
            assertThat(component.ready()).isFalse();
            assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        } finally {
            recording.shutdownNow();
        }
    }

    @Test
    void anNftablesChangeEventTriggersTheRepairWithoutWaitingForTheInterval() throws Exception {
        java.util.concurrent.ScheduledExecutorService scheduler =
                java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        try {
            CaptureComponent component = new CaptureComponent(
                    TestConfigs.load(temp, SEED + "VM_AGENT_CAPTURE_VERIFY_INTERVAL=24h\n"),
                    () -> TestConfigs.plan(temp.resolve("plan"), SEED), tools, scheduler, Clock.systemUTC(),
                    onChange -> NftablesEvents.subscribe(java.util.Optional.of(network.vm()), onChange));
            component.start();
            long before = component.checksDone();

            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F");
            assertThat(component.awaitChecks(before + 1, Duration.ofSeconds(10))).as("a check after the flush")
                    .isTrue();
            assertThat(new NetfilterCapture(tools, Backend.NFT).verify(TestConfigs.plan(temp.resolve("p2"), SEED))
                    .isEmpty()).isTrue();
            component.stop();
        } finally {
            scheduler.shutdownNow();
        }
    }
}
