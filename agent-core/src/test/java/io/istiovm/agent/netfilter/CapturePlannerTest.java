package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.ConfigException;
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
