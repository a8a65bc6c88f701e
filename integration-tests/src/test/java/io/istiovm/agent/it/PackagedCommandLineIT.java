package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shaded jar, run as its own process: the same command lines README.md gives. */
class PackagedCommandLineIT {
    @TempDir
    Path dir;

    @Test
    void checksTheSeedConfigurationFromTheReadme() throws Exception {
        Path seed = AgentProcess.repositoryRoot().resolve("examples/seed");
        AgentProcess.Result result = AgentProcess.run(Map.of(), "check", "--config-dir", seed.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.err()).isEmpty();
        assertThat(result.out()).containsPattern("ISTIO_CP_AUTH +MUTUAL_TLS +cluster.env:3")
                .containsPattern("ISTIO_SERVICE_CIDR +172.21.0.0/16 +cluster.env:4")
                .containsPattern("ISTIO_INBOUND_PORTS +8888 +cluster.env:5");
    }

    @Test
    void dryRunOfTheSeedShowsThePlansAndExitsAsRunWouldOnAMachineThatIsNotYetAMeshVm() throws Exception {
        Path seed = AgentProcess.repositoryRoot().resolve("examples/seed");
        String hostsBefore = Files.readString(Path.of("/etc/hosts"));
        AgentProcess.Result result = AgentProcess.run(Map.of(), "run", "--dry-run", "--config-dir", seed.toString());
        assertThat(result.out())
                .contains("+ 127.255.0.3 httpbin.bar.global")
                .contains("+ 192.0.2.10 istio-citadel istio-pilot istio-pilot.istio-system istiod.istio-system.svc")
                .contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 8888 -m comment --comment istio-vm-agent "
                        + "-j ISTIO_IN_REDIRECT")
                .contains("-A ISTIO_OUTPUT -d 172.21.0.0/16 -m comment --comment istio-vm-agent -j ISTIO_REDIRECT");
        // This machine has no workload identity in /etc/certs and no Envoy: run would refuse to start, and says
        // what to install; the configuration problem (the binary) decides the code.
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(78);
        assertThat(result.err()).contains("error: identity: /etc/certs", "VM_AGENT_ENVOY_BINARY");
        assertThat(Files.readString(Path.of("/etc/hosts"))).isEqualTo(hostsBefore);
    }

    @Test
    void checksWhatIstioctlWrites() throws Exception {
        Path example = AgentProcess.repositoryRoot().resolve("examples/istioctl");
        AgentProcess.Result result = AgentProcess.run(Map.of(), "check", "--config-dir", example.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).containsPattern("ISTIO_METAJSON_LABELS +\\{\"app\":\"httpbin\",\"version\":\"v1\"}");
    }

    @Test
    void invalidConfigurationExitsWithExConfig() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_SERVICE_CIDR=10.0.0.0/33\n");
        AgentProcess.Result result = AgentProcess.run(Map.of(), "run", "--config-dir", dir.toString());
        assertThat(result.exitCode()).isEqualTo(78);
        assertThat(result.err()).isEqualTo("error: " + dir.resolve("cluster.env") + ":1: ISTIO_SERVICE_CIDR="
                + "'10.0.0.0/33': '10.0.0.0/33': prefix length 33 is out of range for IPv4 (0-32)\n"
                + "configuration is invalid: 1 error\n");
    }

    @Test
    void environmentLocatesTheFilesWhenNoFlagIsGiven() throws Exception {
        Files.writeString(dir.resolve("elsewhere.env"), "ISTIO_INBOUND_PORTS=9999\n");
        AgentProcess.Result result = AgentProcess.run(
                Map.of("ISTIO_CLUSTER_CONFIG", dir.resolve("elsewhere.env").toString(),
                        "ISTIO_SIDECAR_CONFIG", dir.resolve("none.env").toString()), "check");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).containsPattern("ISTIO_INBOUND_PORTS +9999 +elsewhere.env:1");
    }

    @Test
    void missingConfigurationExitsWithExNoInput() throws Exception {
        AgentProcess.Result result = AgentProcess.run(Map.of(), "check", "--config-dir",
                dir.resolve("absent").toString());
        assertThat(result.exitCode()).isEqualTo(66);
    }

    @Test
    void versionRuns() throws Exception {
        AgentProcess.Result result = AgentProcess.run(Map.of(), "version");
        assertThat(result.exitCode()).isZero();
        assertThat(result.out()).startsWith("istio-vm-agent 0.1.0");
    }
}
