package io.istiovm.agent.netfilter;

import static io.istiovm.agent.netfilter.CaptureFixtures.AGENT_GID;
import static io.istiovm.agent.netfilter.CaptureFixtures.APP_ID;
import static io.istiovm.agent.netfilter.CaptureFixtures.PROXY_ID;
import static io.istiovm.agent.testing.VmPeerNetwork.VM_IPV4;
import static io.istiovm.agent.testing.VmPeerNetwork.VM_IPV6;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance cases of the capture rules, proven with real TCP connections between two network namespaces
 * ({@link VmPeerNetwork}) and an Envoy stand-in that reports SO_ORIGINAL_DST. Each test builds its own
 * namespaces and deletes them, so nothing reaches the host's netfilter.
 */
class CapturePacketTest {
    private static final String SERVICE = "10.55.0.10";
    private static final String EXCLUDED_SERVICE = "10.55.1.10";
    private static final String SERVICE_V6 = "fd00:55::10";
    private static final String SEED = "ISTIO_SERVICE_CIDR=10.55.0.0/16\nISTIO_INBOUND_PORTS=8888\n";

    @TempDir
    Path temp;

    private VmPeerNetwork network;
    private NetfilterTools tools;
    private NetfilterCapture netfilter;

    @BeforeEach
    void createNetwork() throws Exception {
        network = VmPeerNetwork.create();
        network.startEnvoyStandIn();
        network.addPeerAddress(SERVICE);
        network.addPeerAddress(EXCLUDED_SERVICE);
        network.addPeerAddress(SERVICE_V6);
        for (int port : List.of(80, 81)) {
            network.listen(network.peer(), "direct", false, port);
        }
        network.listen(network.peer(), "direct", true, 80);
        tools = NetfilterTools.system().inNetworkNamespace(network.vm());
        netfilter = NetfilterCapture.open(tools, "auto");
    }

    @AfterEach
    void deleteNetwork() throws Exception {
        network.close();
    }

    // 1
    @Test
    void outboundFromAnApplicationUidToTheServiceCidrArrivesAtTheOutboundPortWithItsOriginalDestination()
            throws Exception {
        netfilter.apply(CaptureFixtures.plan(SEED));
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80))
                .isEqualTo("envoy-outbound " + SERVICE + ":80");
        assertThat(network.connect(network.vm(), 0, 0, SERVICE, 80))
                .as("root-owned applications are captured too (Istio 1.4 exempted uid 0)")
                .isEqualTo("envoy-outbound " + SERVICE + ":80");
    }

    // 2
    @Test
    void outboundFromTheProxyUidGoesDirect() throws Exception {
        netfilter.apply(CaptureFixtures.plan(SEED));
        assertThat(network.connect(network.vm(), PROXY_ID, PROXY_ID, SERVICE, 80))
                .isEqualTo("direct " + SERVICE + ":80");
        assertThat(network.connect(network.vm(), APP_ID, PROXY_ID, SERVICE, 80)).as("the proxy's gid alone")
                .isEqualTo("direct " + SERVICE + ":80");
    }

    @Test
    void outboundFromTheAgentsOwnGroupGoesDirect() throws Exception {
        netfilter.apply(CaptureFixtures.plan(SEED));
        assertThat(network.connect(network.vm(), 0, AGENT_GID, SERVICE, 80))
                .isEqualTo("direct " + SERVICE + ":80");
    }

    // 3
    @Test
    void inboundFromThePeerToACapturedPortArrivesAtTheInboundPort() throws Exception {
        netfilter.apply(CaptureFixtures.plan(SEED));
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 8888))
                .isEqualTo("envoy-inbound " + VM_IPV4 + ":8888");
    }

    @Test
    void inboundInTproxyModeArrivesAtTheInboundPortWithItsDestination() throws Exception {
        netfilter.apply(CaptureFixtures.plan("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\nISTIO_INBOUND_PORTS=8888\n"));
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 8888))
                .isEqualTo("envoy-inbound " + VM_IPV4 + ":8888");
    }

    // 4
    @Test
    void theSshPortIsNeverCapturedEvenWithAllInboundPorts() throws Exception {
        Path sshd = temp.resolve("sshd_config");
        Files.writeString(sshd, "# moved off 22\nPort 2222\n", StandardCharsets.UTF_8);
        List<Integer> sshPorts = SshdPorts.read(sshd);
        network.listen(network.vm(), "sshd", false, 2222);
        network.listen(network.vm(), "app", false, 8080);
        CapturePlan plan = CapturePlanner.plan(CaptureFixtures.settings("ISTIO_INBOUND_PORTS=*\n"),
                CaptureFixtures.host(sshPorts));
        netfilter.apply(plan);

        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 2222)).startsWith("sshd ");
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 8080))
                .isEqualTo("envoy-inbound " + VM_IPV4 + ":8080");
    }

    // 5
    @Test
    void excludedPortsAndCidrsGoDirect() throws Exception {
        network.listen(network.vm(), "app", false, 9000);
        netfilter.apply(CaptureFixtures.plan("ISTIO_SERVICE_CIDR=10.55.0.0/16\n"
                + "ISTIO_SERVICE_EXCLUDE_CIDR=10.55.1.0/24\nISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE=81\n"
                + "ISTIO_INBOUND_PORTS=*\nISTIO_LOCAL_EXCLUDE_PORTS=9000\n"));

        assertThat(network.connect(network.vm(), APP_ID, APP_ID, EXCLUDED_SERVICE, 80))
                .isEqualTo("direct " + EXCLUDED_SERVICE + ":80");
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 81)).isEqualTo("direct " + SERVICE + ":81");
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 9000)).startsWith("app ");
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80)).as("control: not excluded")
                .isEqualTo("envoy-outbound " + SERVICE + ":80");
    }

    // 6
    @Test
    void aGlobalVipOnLoopbackIsCapturedToTheOutboundPort() throws Exception {
        netfilter.apply(CapturePlanner.plan(CaptureFixtures.settings(SEED).withHostsAddresses(
                List.of(InetAddress.getByName("127.255.0.3"))), CaptureFixtures.host(List.of(22))));
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, "127.255.0.3", 8000))
                .isEqualTo("envoy-outbound 127.255.0.3:8000");
    }

    // 7
    @Test
    void applyingOneHundredTimesLeavesAnIdenticalRuleSet() throws Exception {
        CapturePlan plan = CaptureFixtures.plan(SEED);
        netfilter.apply(plan);
        String first = network.vmSave(false);
        for (int i = 0; i < 99; i++) {
            netfilter.apply(plan);
        }
        assertThat(network.vmSave(false)).isEqualTo(first);
    }

    // 8
    @Test
    void cleanLeavesNoTraceAndWorksTwice() throws Exception {
        String before = withoutEmptyTables(network.vmSave(false));
        String before6 = withoutEmptyTables(network.vmSave(true));
        netfilter.apply(CaptureFixtures.plan(CaptureFixtures.DUAL_STACK));
        assertThat(network.vmSave(true)).contains("ISTIO_OUTPUT");

        netfilter.clean(java.util.Optional.empty());
        assertThat(withoutEmptyTables(network.vmSave(false))).isEqualTo(before);
        assertThat(withoutEmptyTables(network.vmSave(true))).isEqualTo(before6);
        netfilter.clean(java.util.Optional.empty());
        assertThat(withoutEmptyTables(network.vmSave(false))).isEqualTo(before);
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80)).isEqualTo("direct " + SERVICE + ":80");
    }

    // 9
    @Test
    void anExternalFlushOrADeletedRuleIsDetectedAndRepaired() throws Exception {
        SteppingClock clock = new SteppingClock(Instant.parse("2026-01-01T00:00:00Z"));
        ManualLoops loops = new ManualLoops(clock);
        CaptureComponent.Capturing component = CaptureFixtures.component(SEED, temp, tools,
                CaptureComponent.ChangeEvents.NONE).prepare()
                .start(ComponentContext.of(CaptureComponent.NAME, loops, new AgentState(clock)));
        loops.runDue();
        String applied = network.vmSave(false);
        assertThat(component.verifyAndRepair().drift().isEmpty()).isTrue();

        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-F");
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80)).startsWith("direct");
        CaptureComponent.Check flushed = component.verifyAndRepair();
        assertThat(flushed.drift().isEmpty()).isFalse();
        assertThat(flushed.repaired()).isTrue();
        assertThat(network.vmSave(false)).isEqualTo(applied);
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80)).startsWith("envoy-outbound");

        network.inNamespace(network.vm(), "iptables", "-t", "nat", "-D", "ISTIO_INBOUND", "2");
        CaptureComponent.Check deleted = component.verifyAndRepair();
        assertThat(deleted.drift().lines()).singleElement()
                .satisfies(line -> assertThat(line.text()).contains("--dport 8888"));
        assertThat(network.vmSave(false)).isEqualTo(applied);
        assertThat(component.verifyAndRepair().drift().isEmpty()).isTrue();

        component.stop();
        assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
    }

    // 10
    @Test
    void aFailedRestoreLeavesThePreviousRulesExactlyInPlace() throws Exception {
        CapturePlan previous = CaptureFixtures.plan(SEED);
        netfilter.apply(previous);
        String before = withoutEmptyTables(network.vmSave(false));

        Path failingBin = CaptureFixtures.failingRestoreDir(temp.resolve("failing-bin"),
                Set.of("iptables", "ip6tables"));
        NetfilterCapture failing = new NetfilterCapture(tools.withBinDir(failingBin.toString()), netfilter.backend());
        CapturePlan next = CaptureFixtures.plan("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n"
                + "ISTIO_SERVICE_CIDR=10.0.0.0/8\nISTIO_INBOUND_PORTS=9999\n");
        assertThatThrownBy(() -> failing.apply(next)).isInstanceOf(CaptureException.class)
                .hasMessageContaining("not applied");

        assertThat(withoutEmptyTables(network.vmSave(false))).isEqualTo(before);
        assertThat(netfilter.verify(previous).isEmpty()).isTrue();
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80)).startsWith("envoy-outbound");
    }

    // 11
    @Test
    void ipv6OutboundAndInboundAreCapturedLikeIpv4ForAnIpv6Workload() throws Exception {
        netfilter.apply(CaptureFixtures.plan("ISTIO_SVC_IP=" + VM_IPV6 + "\n" + CaptureFixtures.DUAL_STACK));
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE_V6, 80))
                .isEqualTo("envoy-outbound [" + SERVICE_V6 + "]:80");
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV6, 8888))
                .isEqualTo("envoy-inbound [" + VM_IPV6 + "]:8888");
        assertThat(network.connect(network.vm(), PROXY_ID, PROXY_ID, SERVICE_V6, 80))
                .isEqualTo("direct [" + SERVICE_V6 + "]:80");
    }

    // Issue 11 item 7 (Istio 1.8/1.9: IPv6 rules only for an IPv6 workload)
    @Test
    void onAnIpv4WorkloadWithAUlaAddressAndStarCidrIpv6EgressGoesDirectAndIpv4IsCaptured() throws Exception {
        CapturePlan plan = CaptureFixtures.plan("ISTIO_SVC_IP=" + VM_IPV4 + "\nISTIO_SERVICE_CIDR=*\n"
                + "ISTIO_INBOUND_PORTS=8888\n");
        netfilter.apply(plan);
        assertThat(network.inNamespace(network.vm(), "ip", "-6", "addr", "show", "scope", "global"))
                .as("the VM has a ULA address").contains(VM_IPV6);
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE_V6, 80))
                .isEqualTo("direct [" + SERVICE_V6 + "]:80");
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE, 80))
                .isEqualTo("envoy-outbound " + SERVICE + ":80");
        assertThat(network.vmSave(true)).doesNotContain("ISTIO_");
        assertThat(network.inNamespace(network.vm(), "ip", "-6", "addr", "show", "dev", "lo"))
                .as("::6 only for an IPv6 workload").doesNotContain("::6/128");
    }

    @Test
    void anIpv6WorkloadGetsThePassthroughAddressOnLoopbackAsIstioAddsIt() throws Exception {
        CapturePlan plan = CaptureFixtures.plan("ISTIO_SVC_IP=" + VM_IPV6 + "\nISTIO_SERVICE_CIDR=*\n");
        netfilter.apply(plan);
        assertThat(network.inNamespace(network.vm(), "ip", "-6", "addr", "show", "dev", "lo")).contains("::6/128");
        assertThat(netfilter.verify(plan).isEmpty()).isTrue();
        netfilter.apply(plan);
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, SERVICE_V6, 80))
                .isEqualTo("envoy-outbound [" + SERVICE_V6 + "]:80");
    }

    // Issue 11 item 8 (Istio 1.9's TPROXY rules)
    @Test
    void tproxyDeliversNewConnectionsToTheTransparentListenerWithTheClientAddressNotToTheBoundApplication()
            throws Exception {
        int transparentPort = 15016;
        network.startTransparentInboundStandIn(transparentPort);
        network.listenOn(network.vm(), "app", VM_IPV4, 8888);
        netfilter.apply(CaptureFixtures.plan("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\nISTIO_INBOUND_PORTS=8888\n"
                + "INBOUND_CAPTURE_PORT=" + transparentPort + "\n"));
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 8888))
                .as("a SYN to an address an application has bound is still diverted (no -m socket shortcut), and "
                        + "the listener sees the client's own address")
                .startsWith("envoy-inbound " + VM_IPV4 + ":8888 from " + VmPeerNetwork.PEER_IPV4 + ":");
        assertThat(network.vmSave(false)).contains("-j CONNMARK --save-mark").contains("-j CONNMARK --restore-mark")
                .contains("-m conntrack --ctstate RELATED,ESTABLISHED").doesNotContain("-m socket");
    }

    /**
     * The whole TPROXY path of Istio 1.9: the stand-in passes the connection on to the application from the
     * client's address with Envoy's mark; the mark RETURN keeps that from being diverted again and the CONNMARK
     * pair brings the application's replies back to the stand-in instead of out to the client.
     */
    @Test
    void tproxyPassthroughFromTheClientsAddressReachesTheApplicationAndItsRepliesComeBack() throws Exception {
        int transparentPort = 15016;
        network.startTproxyPassthroughStandIn(transparentPort, 1337);
        network.listenOnReportingClient(network.vm(), "app", VM_IPV4, 8888);
        netfilter.apply(CaptureFixtures.plan("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\nISTIO_INBOUND_PORTS=8888\n"
                + "INBOUND_CAPTURE_PORT=" + transparentPort + "\n"));
        String answer = network.connect(network.peer(), 0, 0, VM_IPV4, 8888);
        assertThat(answer).startsWith("envoy-inbound " + VM_IPV4 + ":8888 from " + VmPeerNetwork.PEER_IPV4 + ":")
                .contains(" via app " + VM_IPV4 + ":8888 from " + VmPeerNetwork.PEER_IPV4 + ":");
    }

    // Issue 11 item 9: interface exclusion
    @Test
    void anExcludedInterfacesForwardedTrafficGoesDirectWithAllInboundPortsCaptured() throws Exception {
        String bridge = network.attachContainer();
        netfilter.apply(CaptureFixtures.plan("ISTIO_INBOUND_PORTS=*\n"));
        assertThat(network.connect(network.container(), APP_ID, APP_ID, SERVICE, 80))
                .as("control: without the exclusion, forwarded container traffic lands in Envoy's inbound port")
                .isEqualTo("envoy-inbound " + SERVICE + ":80");

        netfilter.apply(CaptureFixtures.plan("ISTIO_INBOUND_PORTS=*\nISTIO_EXCLUDE_INTERFACES=" + bridge + "\n"));
        assertThat(network.connect(network.container(), APP_ID, APP_ID, SERVICE, 80))
                .isEqualTo("direct " + SERVICE + ":80");
        assertThat(network.connect(network.peer(), 0, 0, VM_IPV4, 8888)).as("other interfaces still captured")
                .isEqualTo("envoy-inbound " + VM_IPV4 + ":8888");
    }

    // Issue 11 item 9: the proxy's gid alone does not send loopback traffic into Envoy's inbound path
    @Test
    void theProxysGroupAloneIsNotRedirectedBackIntoTheInboundPathOverLoopback() throws Exception {
        network.listen(network.vm(), "app", false, 9090);
        netfilter.apply(CaptureFixtures.plan(SEED));
        assertThat(network.connect(network.vm(), APP_ID, PROXY_ID, VM_IPV4, 9090)).startsWith("app ");
        assertThat(network.connect(network.vm(), PROXY_ID, PROXY_ID, VM_IPV4, 9090))
                .as("control: the proxy's uid is").isEqualTo("envoy-inbound " + VM_IPV4 + ":9090");
    }

    // Issue 11 item 9: a loopback ISTIO_SERVICE_CIDR is captured, not left behind the loopback RETURN
    @Test
    void aLoopbackServiceRangeIsCaptured() throws Exception {
        netfilter.apply(CaptureFixtures.plan("ISTIO_SERVICE_CIDR=127.1.2.3/32\n"));
        assertThat(network.connect(network.vm(), APP_ID, APP_ID, "127.1.2.3", 80))
                .isEqualTo("envoy-outbound 127.1.2.3:80");
    }

    // Issue 11 item 10: the guide's literal cluster.env with the guide's ServiceEntry in hosts.d
    @Test
    void theGuidesLiteralClusterEnvStillCapturesTheHostsBlocksVipsAndCheckWarnsAboutTheEmptyCidr()
            throws Exception {
        Path config = Files.createDirectories(temp.resolve("config"));
        Path hostsFile = temp.resolve("hosts");
        Files.writeString(hostsFile, "127.0.0.1 localhost\n", StandardCharsets.UTF_8);
        Files.createDirectories(config.resolve("hosts.d"));
        Files.copy(Path.of("../examples/seed/hosts.d/httpbin-bar-forvms.yaml"),
                config.resolve("hosts.d/httpbin-bar-forvms.yaml"));
        // What `echo -e "ISTIO_CP_AUTH=MUTUAL_TLS\nISTIO_SERVICE_CIDR=$ISTIO_SERVICE_CIDR\n" > cluster.env` writes
        // with the variable unset, plus the guide's inbound port and this test's paths.
        Files.writeString(config.resolve("cluster.env"), "ISTIO_CP_AUTH=MUTUAL_TLS\nISTIO_SERVICE_CIDR=\n\n"
                + "ISTIO_INBOUND_PORTS=8888\nVM_AGENT_HOSTS_FILE=" + hostsFile + "\nVM_AGENT_SSHD_CONFIG="
                + temp.resolve("no-sshd") + "\n", StandardCharsets.UTF_8);
        AgentConfig loaded = new ConfigLoader(CliRun.TEST_HOST).load(ConfigFiles.inDirectory(config), Map.of(), true)
                .config();
        SteppingClock clock = new SteppingClock(Instant.parse("2026-01-01T00:00:00Z"));
        Assembly assembly = new Assembly(new AgentRuntime(clock, new ManualLoops(clock),
                new FileEvents(FileSystems.getDefault()), new HostPaths(temp.resolve("etc"), Path.of("/proc")),
                CliRun.TEST_HOST));
        assembly.hosts(loaded).applyOnce();
        netfilter.apply(assembly.capture(loaded).plan());

        assertThat(network.connectByName(network.vm(), APP_ID, APP_ID, hostsFile, "httpbin.bar.global", 8000))
                .isEqualTo("envoy-outbound 127.255.0.3:8000");
        CliRun check = CliRun.run("check", "--config-dir", config.toString());
        assertThat(check.exitCode()).isZero();
        assertThat(check.err()).contains("warning: " + config.resolve("cluster.env") + ":2: ISTIO_SERVICE_CIDR")
                .contains("never sets $ISTIO_SERVICE_CIDR");
    }

    /** iptables-save text without tables that hold nothing but empty built-in chains (nft keeps such tables). */
    private static String withoutEmptyTables(String save) {
        StringBuilder out = new StringBuilder();
        for (String table : save.split("(?=\\*)")) {
            boolean hasContent = table.lines().anyMatch(l -> l.startsWith("-A ")
                    || (l.startsWith(":") && !l.matches(":(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*")));
            if (hasContent) {
                out.append(table);
            }
        }
        return out.toString();
    }
}
