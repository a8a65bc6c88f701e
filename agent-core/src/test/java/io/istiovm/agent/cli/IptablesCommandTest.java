package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.HostFacts;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code istio-vm-agent iptables ...} end to end in-process, acting on a scratch network namespace. */
class IptablesCommandTest {
    @TempDir
    Path config;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        CliEnvironment env = new CliEnvironment(Map.of(), HostFacts.fixed("vm", List.of()), new PrintWriter(out),
                new PrintWriter(err));
        return Cli.execute(env, args);
    }

    private void writeConfig(String clusterEnv) throws Exception {
        Files.writeString(config.resolve("cluster.env"), clusterEnv + "VM_AGENT_SSHD_CONFIG="
                + config.resolve("sshd_config") + "\n", StandardCharsets.UTF_8);
    }

    @Test
    void planPrintsTheRulesAndRejectsCapturingSsh() throws Exception {
        writeConfig("ISTIO_SERVICE_CIDR=172.21.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
        assertThat(run("iptables", "plan", "--config-dir", config.toString())).isEqualTo(ExitCodes.OK);
        assertThat(out.toString()).contains("*nat\n", "-A ISTIO_INBOUND -p tcp -m tcp --dport 8888 ",
                "-A ISTIO_OUTPUT -d 172.21.0.0/16 ");

        writeConfig("ISTIO_INBOUND_PORTS=8888,22\n");
        assertThat(run("iptables", "plan", "--config-dir", config.toString())).isEqualTo(ExitCodes.CONFIG);
        assertThat(err.toString()).contains("cluster.env:1: ISTIO_INBOUND_PORTS='8888,22': port 22 is sshd's port");
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void applyVerifyAndCleanInANamespace() throws Exception {
        writeConfig("ISTIO_SERVICE_CIDR=172.21.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
        try (VmPeerNetwork network = VmPeerNetwork.create()) {
            String[] target = {"--config-dir", config.toString(), "--netns", network.vm()};
            assertThat(run(concat("iptables", "verify", target))).isEqualTo(ExitCodes.DIFFERENT);
            assertThat(out.toString()).contains("- IPv4 nat: -A ISTIO_OUTPUT -d 172.21.0.0/16 ");

            assertThat(run(concat("iptables", "apply", target))).as(err.toString()).isEqualTo(ExitCodes.OK);
            assertThat(run(concat("iptables", "verify", target))).isEqualTo(ExitCodes.OK);
            network.inNamespace(network.vm(), "iptables", "-t", "nat", "-D", "ISTIO_INBOUND", "1");
            assertThat(run(concat("iptables", "verify", target))).isEqualTo(ExitCodes.DIFFERENT);
            assertThat(out.toString().strip()).startsWith("- IPv4 nat: -A ISTIO_INBOUND -p tcp -m tcp --dport 22 ")
                    .doesNotContain("\n");

            assertThat(run(concat("iptables", "clean", target))).isEqualTo(ExitCodes.OK);
            assertThat(run(concat("iptables", "clean", target))).isEqualTo(ExitCodes.OK);
            assertThat(network.vmSave(false)).doesNotContain("ISTIO_");

            assertThat(run(concat("iptables", "apply", target))).isEqualTo(ExitCodes.OK);
            Files.delete(config.resolve("cluster.env"));
            assertThat(run(concat("iptables", "clean", target))).as("clean without configuration")
                    .isEqualTo(ExitCodes.OK);
            assertThat(network.vmSave(false)).doesNotContain("ISTIO_");
        }
    }

    private static String[] concat(String a, String b, String[] rest) {
        String[] all = new String[rest.length + 2];
        all[0] = a;
        all[1] = b;
        System.arraycopy(rest, 0, all, 2, rest.length);
        return all;
    }
}
