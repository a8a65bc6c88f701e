package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code istio-vm-agent iptables ...} end to end in-process, acting on a scratch network namespace. */
class IptablesCommandTest {
    @TempDir
    Path config;

    private void writeConfig(String clusterEnv) throws Exception {
        Files.writeString(config.resolve("cluster.env"), clusterEnv + "VM_AGENT_SSHD_CONFIG="
                + config.resolve("sshd_config") + "\n", StandardCharsets.UTF_8);
    }

    @Test
    void aSubcommandIsRequired() {
        CliRun bare = CliRun.run("iptables");
        assertThat(bare.exitCode()).isEqualTo(ExitCodes.USAGE);
        assertThat(bare.err()).contains("a subcommand is required");
    }

    @Test
    void planPrintsTheRulesAndRejectsCapturingSsh() throws Exception {
        writeConfig("ISTIO_SERVICE_CIDR=172.21.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
        CliRun plan = CliRun.run("iptables", "plan", "--config-dir", config.toString());
        assertThat(plan.exitCode()).as(plan.toString()).isEqualTo(ExitCodes.OK);
        assertThat(plan.out()).contains("*nat\n", "-A ISTIO_INBOUND -p tcp -m tcp --dport 8888 ",
                "-A ISTIO_OUTPUT -d 172.21.0.0/16 ");

        writeConfig("ISTIO_INBOUND_PORTS=8888,22\n");
        CliRun rejected = CliRun.run("iptables", "plan", "--config-dir", config.toString());
        assertThat(rejected.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(rejected.err()).contains("cluster.env:1: ISTIO_INBOUND_PORTS='8888,22': port 22 is sshd's port");
        assertThat(rejected.out()).isEmpty();
    }

    @Test
    void theDaemonRefusesToCaptureSshWithExit78BeforeTouchingNetfilter() throws Exception {
        // The plan fails before any rule is read or written, so this in-process run never reaches the host.
        Files.writeString(config.resolve("sshd_config"), "Port 22\n", StandardCharsets.UTF_8);
        writeConfig("ISTIO_INBOUND_PORTS=8080,22\n");
        CliRun run = CliRun.run("run", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.err()).contains("ISTIO_INBOUND_PORTS='8080,22': port 22 is sshd's port");

        CliRun dryRun = CliRun.run("run", "--dry-run", "--config-dir", config.toString());
        assertThat(dryRun.exitCode()).as("dry run prepares the capture plan as run does").isEqualTo(ExitCodes.CONFIG);
        assertThat(dryRun.err()).contains("ISTIO_INBOUND_PORTS='8080,22': port 22 is sshd's port");
    }

    @Test
    void applyVerifyAndCleanInANamespace() throws Exception {
        writeConfig("ISTIO_SERVICE_CIDR=172.21.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
        try (VmPeerNetwork network = VmPeerNetwork.create()) {
            String dir = config.toString();
            String ns = network.vm();
            CliRun before = CliRun.run("iptables", "verify", "--config-dir", dir, "--netns", ns);
            assertThat(before.exitCode()).isEqualTo(ExitCodes.DIFFERENT);
            assertThat(before.out()).contains("- IPv4 nat: -A ISTIO_OUTPUT -d 172.21.0.0/16 ");

            CliRun apply = CliRun.run("iptables", "apply", "--config-dir", dir, "--netns", ns);
            assertThat(apply.exitCode()).as(apply.toString()).isEqualTo(ExitCodes.OK);
            assertThat(CliRun.run("iptables", "verify", "--config-dir", dir, "--netns", ns).exitCode())
                    .isEqualTo(ExitCodes.OK);
            network.inNamespace(ns, "iptables", "-t", "nat", "-D", "ISTIO_INBOUND", "1");
            CliRun drifted = CliRun.run("iptables", "verify", "--config-dir", dir, "--netns", ns);
            assertThat(drifted.exitCode()).isEqualTo(ExitCodes.DIFFERENT);
            assertThat(drifted.out().strip()).startsWith("- IPv4 nat: -A ISTIO_INBOUND -p tcp -m tcp --dport 22 ")
                    .doesNotContain("\n");

            assertThat(CliRun.run("iptables", "clean", "--config-dir", dir, "--netns", ns).exitCode())
                    .isEqualTo(ExitCodes.OK);
            assertThat(CliRun.run("iptables", "clean", "--config-dir", dir, "--netns", ns).exitCode())
                    .isEqualTo(ExitCodes.OK);
            assertThat(network.vmSave(false)).doesNotContain("ISTIO_");

            assertThat(CliRun.run("iptables", "apply", "--config-dir", dir, "--netns", ns).exitCode())
                    .isEqualTo(ExitCodes.OK);
            Files.delete(config.resolve("cluster.env"));
            CliRun orphan = CliRun.run("iptables", "clean", "--config-dir", dir, "--netns", ns);
            assertThat(orphan.exitCode()).as("clean without configuration: " + orphan).isEqualTo(ExitCodes.OK);
            assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        }
    }
}
