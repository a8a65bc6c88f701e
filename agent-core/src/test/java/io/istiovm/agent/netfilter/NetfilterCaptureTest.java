package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
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
        tools = NetfilterTools.system().inNetworkNamespace(network.vm());
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

        CapturePlan plan = CaptureFixtures.plan(SEED);
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
        CapturePlan plan = CaptureFixtures.plan("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n"
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
        CapturePlan plan = CaptureFixtures.plan(SEED);
        netfilter.apply(plan);
        String save = network.vmSave(false);
        assertThat(save).doesNotContain("--uid-owner 0 ").contains("-A OUTPUT -p udp -m udp --dport 53 -j RETURN");
        netfilter.clean(plan.tproxyRoute());
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_").contains("--dport 53 -j RETURN");
    }

    @Test
    void refusesToReplaceChainsThatForeignRulesJumpInto() throws Exception {
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        CapturePlan plan = CaptureFixtures.plan(SEED);
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

    // The families are saved side by side on nft: tampering in both at once must show in one verify, per family.
    @Test
    void aTamperedRuleInEitherFamilyIsReportedByOneVerifyAndRepairedByTheNextApply() throws Exception {
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        assertThat(netfilter.backend()).isEqualTo(Backend.NFT);
        CapturePlan plan = CaptureFixtures.plan(CaptureFixtures.DUAL_STACK);
        netfilter.apply(plan);
        String ipv4 = network.vmSave(false);
        String ipv6 = network.vmSave(true);

        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-D", "ISTIO_INBOUND", "2");
        network.inNamespace(network.vm(), "ip6tables", "-t", "nat", "-F", "ISTIO_OUTPUT");
        Drift drift = netfilter.verify(plan);
        assertThat(drift.lines()).filteredOn(line -> line.family() == IpFamily.IPV4).singleElement()
                .satisfies(line -> assertThat(line.text()).contains("--dport 8888"));
        assertThat(drift.lines()).filteredOn(line -> line.family() == IpFamily.IPV6).isNotEmpty()
                .allSatisfy(line -> assertThat(line.toString()).startsWith("- IPv6 nat: -A ISTIO_OUTPUT"));

        netfilter.apply(plan);
        assertThat(network.vmSave(false)).isEqualTo(ipv4);
        assertThat(network.vmSave(true)).isEqualTo(ipv6);
        assertThat(netfilter.verify(plan).isEmpty()).isTrue();
    }

    // With the families side by side, a failed IPv6 transaction must still leave IPv6 as it was and be reported,
    // while IPv4's own transaction (which ran at the same time) completes: the same outcome as one after the other.
    @Test
    void aFailedTransactionInOneFamilyLeavesThatFamilyAsItWasWhileTheOtherCompletes() throws Exception {
        NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
        CapturePlan previous = CaptureFixtures.plan(CaptureFixtures.DUAL_STACK);
        netfilter.apply(previous);
        String ipv6Before = network.vmSave(true);

        Path failingBin = CaptureFixtures.failingRestoreDir(temp.resolve("failing-ipv6"), Set.of("ip6tables"));
        NetfilterCapture failing = new NetfilterCapture(tools.withBinDir(failingBin.toString()), netfilter.backend());
        CapturePlan next = CaptureFixtures.plan("ISTIO_SERVICE_CIDR=10.66.0.0/16,fd00:66::/64\n"
                + "ISTIO_INBOUND_PORTS=9999\n");
        assertThatThrownBy(() -> failing.apply(next)).isInstanceOf(CaptureException.class)
                .hasMessageStartingWith("IPv6 rules not applied");

        assertThat(network.vmSave(true)).isEqualTo(ipv6Before);
        assertThat(netfilter.verify(next).lines()).isNotEmpty()
                .allSatisfy(line -> assertThat(line.family()).isEqualTo(IpFamily.IPV6));
    }
}
