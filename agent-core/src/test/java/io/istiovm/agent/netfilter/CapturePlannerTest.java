package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.HostFacts;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Planning inputs and rules that golden files cannot show: errors, host facts, sshd parsing, diffs. */
class CapturePlannerTest {
    @TempDir
    Path temp;

    @Test
    void listingTheSshPortAsAnInboundPortIsAConfigurationErrorNamingFileLineAndKey() throws Exception {
        assertThatThrownBy(() -> CapturePlanner.plan(
                CaptureFixtures.settings("ISTIO_SERVICE_CIDR=10.0.0.0/8\nISTIO_INBOUND_PORTS=8080,2222\n"),
                CaptureFixtures.host(List.of(2222))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(CaptureFixtures.CONFIG_DIR.resolve("cluster.env")
                        + ":2: ISTIO_INBOUND_PORTS='8080,2222': port 2222 is sshd's port");
    }

    @Test
    void aLoopbackServiceRangeHoldingLocalhostIsRefusedWithFileLineAndKey() {
        assertThatThrownBy(() -> CaptureFixtures.plan("ISTIO_SERVICE_CIDR=10.0.0.0/8,127.0.0.0/8\n"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(CaptureFixtures.CONFIG_DIR.resolve("cluster.env")
                        + ":1: ISTIO_SERVICE_CIDR='10.0.0.0/8,127.0.0.0/8': 127.0.0.0/8 holds 127.0.0.1");
    }

    @Test
    void istio18KeysAreKnownOrRefusedPrecisely() {
        ConfigLoader loader = new ConfigLoader(HostFacts.fixed("vm", List.of()));
        ConfigFiles files = ConfigFiles.inDirectory(CaptureFixtures.CONFIG_DIR);
        assertThatThrownBy(() -> loader.loadInMemory(files, "KUBE_VIRT_INTERFACES=eth1\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("KUBE_VIRT_INTERFACES='eth1': is not "
                        + "supported").hasMessageContaining("use ISTIO_EXCLUDE_INTERFACES");
        assertThatThrownBy(() -> loader.loadInMemory(files, "PROXY_UID=1337,1338\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("lists of uids are not supported");
        assertThatThrownBy(() -> loader.loadInMemory(files, "ISTIO_EXCLUDE_INTERFACES=lo\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("'lo' cannot be excluded");
        assertThat(assertDoesNotThrow(() -> loader.loadInMemory(files, "ISTIO_OUTBOUND_PORTS=5432\n"
                + "ISTIO_EXCLUDE_INTERFACES=docker0,virbr0,wg0\nPROXY_UID=1500\n")).warnings())
                .as("known keys: no 'unknown key, did you mean ISTIO_INBOUND_PORTS'").isEmpty();
    }

    @Test
    void anAcceptedSettingWithoutEffectIsAWarning() throws Exception {
        ConfigLoader loader = new ConfigLoader(HostFacts.fixed("vm", List.of()));
        ConfigFiles files = ConfigFiles.inDirectory(CaptureFixtures.CONFIG_DIR);
        assertThat(loader.loadInMemory(files, "ISTIO_META_DNS_CAPTURE=true\n").warnings())
                .singleElement().satisfies(w -> assertThat(w.render()).contains("ISTIO_META_DNS_CAPTURE='true': is "
                        + "accepted but has no effect"));
        assertThat(loader.loadInMemory(files, "ISTIO_META_DNS_CAPTURE=false\n").warnings()).as("the default")
                .isEmpty();
    }

    @Test
    void proxyUidReplacesTheEnvoyUsersIdsButMustBeTheUidEnvoyRunsAs() throws Exception {
        Path etc = Files.createDirectories(temp.resolve("etc"));
        Files.writeString(etc.resolve("passwd"), "istio-proxy:x:998:997::/var/lib/istio:/bin/false\n",
                StandardCharsets.UTF_8);
        String sshd = "VM_AGENT_SSHD_CONFIG=" + temp.resolve("no-sshd") + "\nVM_AGENT_GROUP=nogroup\n";
        assertThat(CaptureHost.read(CaptureFixtures.settings(sshd + "ENVOY_USER=envoy\nPROXY_UID=1500\n"), etc))
                .as("no such ENVOY_USER: PROXY_UID, and PROXY_GID defaults to it (Istio 1.8)")
                .isEqualTo(new CaptureHost(List.of(22), 1500, 1500, java.util.OptionalLong.empty()));
        assertThat(CaptureHost.read(CaptureFixtures.settings(sshd + "PROXY_UID=998\nPROXY_GID=1501\n"), etc))
                .isEqualTo(new CaptureHost(List.of(22), 998, 1501, java.util.OptionalLong.empty()));
        assertThatThrownBy(() -> CaptureHost.read(CaptureFixtures.settings(sshd + "PROXY_UID=1500\n"), etc))
                .isInstanceOf(ConfigException.class).hasMessageContaining("PROXY_UID='1500': Envoy runs as "
                        + "ENVOY_USER istio-proxy, uid 998");
    }

    @Test
    void sshdPortsComeFromPortListenAddressAndIncludedFiles() throws Exception {
        Path ssh = Files.createDirectories(temp.resolve("ssh"));
        Files.createDirectories(ssh.resolve("sshd_config.d"));
        Files.writeString(ssh.resolve("sshd_config"), "Include sshd_config.d/*.conf\n#Port 99\nPort 2222\n"
                + "ListenAddress 10.0.0.1:2200\nListenAddress [fd00::1]:2201\nListenAddress fd00::2\n"
                + "Match User git\n  Port 3333\n", StandardCharsets.UTF_8);
        Files.writeString(ssh.resolve("sshd_config.d/10-extra.conf"), "port=2022\n", StandardCharsets.UTF_8);
        assertThat(SshdPorts.read(ssh.resolve("sshd_config"))).containsExactly(2022, 2222, 2200, 2201);
        assertThat(SshdPorts.read(temp.resolve("missing"))).containsExactly(22);
        Files.writeString(ssh.resolve("bad"), "Port 70000\n", StandardCharsets.UTF_8);
        assertThatThrownBy(() -> SshdPorts.read(ssh.resolve("bad"))).hasMessageContaining("70000");
    }

    @Test
    void hostFactsResolveTheProxyUserAndAgentGroupOrFallBackToIstiosDefaults() throws Exception {
        Path etc = Files.createDirectories(temp.resolve("etc"));
        Files.writeString(etc.resolve("passwd"), "root:x:0:0:root:/root:/bin/sh\n"
                + "istio-proxy:x:998:997::/var/lib/istio:/bin/false\n", StandardCharsets.UTF_8);
        Files.writeString(etc.resolve("group"), "root:x:0:\nistio-vm-agent:x:996:\n", StandardCharsets.UTF_8);
        String sshd = "VM_AGENT_SSHD_CONFIG=" + temp.resolve("no-sshd") + "\n";
        CaptureHost host = CaptureHost.read(CaptureFixtures.settings(sshd), etc);
        assertThat(host).isEqualTo(new CaptureHost(List.of(22), 998, 997, java.util.OptionalLong.of(996)));

        CaptureHost fallback = CaptureHost.read(CaptureFixtures.settings(sshd + "ENVOY_USER=envoy\n"
                + "VM_AGENT_GROUP=nogroup\n"), etc);
        assertThat(fallback).isEqualTo(new CaptureHost(List.of(22), 1337, 1337, java.util.OptionalLong.empty()));
    }

    @Test
    void theTransactionReplacesOnlyTheAgentsStateAndDeletesChainsNoLongerWanted() throws Exception {
        String save = """
                *nat
                :PREROUTING ACCEPT [0:0]
                :OUTPUT ACCEPT [0:0]
                :ISTIO_INBOUND - [0:0]
                :ISTIO_IN_REDIRECT - [0:0]
                :KUBE-SERVICES - [0:0]
                -A PREROUTING -j KUBE-SERVICES
                -A PREROUTING -p tcp -m comment --comment istio-vm-agent -j ISTIO_INBOUND
                -A ISTIO_INBOUND -p tcp -m tcp --dport 8888 -j ISTIO_IN_REDIRECT
                -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15001
                COMMIT
                """;
        SavedRules current = SavedRules.parse(IpFamily.IPV4, save);
        CapturePlan plan = CaptureFixtures.plan("ISTIO_SERVICE_CIDR=10.0.0.0/8\n");
        String script = RestoreScript.replace(current, plan.ipv4());
        assertThat(script).startsWith("*nat\n:ISTIO_INBOUND - [0:0]\n:ISTIO_IN_REDIRECT - [0:0]\n")
                .contains("-D PREROUTING -p tcp -m comment --comment istio-vm-agent -j ISTIO_INBOUND\n")
                .contains("-X ISTIO_INBOUND\n")
                .doesNotContain("KUBE-SERVICES")
                .doesNotContain("-X ISTIO_IN_REDIRECT")
                .endsWith("COMMIT\n");
        assertThat(RestoreScript.replace(SavedRules.parse(IpFamily.IPV4, ""), CaptureRules.none(IpFamily.IPV4)))
                .isEmpty();
    }

    @Test
    void driftListsMissingAndUnexpectedLinesInOrder() {
        List<Drift.Line> lines = Drift.compare(IpFamily.IPV4, "nat", List.of("a", "b", "c"), List.of("a", "c", "x"));
        assertThat(lines).extracting(Drift.Line::toString)
                .containsExactly("- IPv4 nat: b", "+ IPv4 nat: x");
    }
}
