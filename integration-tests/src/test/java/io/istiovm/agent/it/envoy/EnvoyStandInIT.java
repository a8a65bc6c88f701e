package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.EnvoyArea;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The stand-in's own contract with the agent: flags and bootstrap validation behave as Envoy's do. */
class EnvoyStandInIT {
    private EnvoyStandInFixture standIn;
    private Path bootstrap;

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
        Path configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        EnvoyArea area = new EnvoyArea(TestConfigs.inMemory(configDir, standIn.clusterEnv()),
                AgentRuntime.system(CliRun.TEST_HOST), new IdentityHolder());
        bootstrap = standIn.dir().resolve("proxy/envoy-rev0.json");
        Files.writeString(bootstrap, area.bootstrap().json());
        // The directory the agent would make for Envoy's admin socket; the stand-in binds the socket there.
        Files.createDirectories(standIn.adminSocket().getParent());
    }

    @AfterEach
    void remove() throws Exception {
        standIn.close();
    }

    private record Run(int exit, String output) {
    }

    private Run run(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(standIn.binary().toString()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(process.exitValue(), output);
    }

    @Test
    void validateModeAcceptsTheAgentsBootstrapAndRejectsAnUnknownField() throws Exception {
        Run ok = run("--mode", "validate", "-c", bootstrap.toString());
        assertThat(ok.exit()).as(ok.output()).isZero();
        assertThat(ok.output()).contains("configuration '" + bootstrap + "' OK");

        Path bad = standIn.dir().resolve("proxy/bad.json");
        Files.writeString(bad, Files.readString(bootstrap).replaceFirst("\"admin\": \\{", "\"admin\": {\"adress\": {},"));
        Run rejected = run("--mode", "validate", "-c", bad.toString());
        assertThat(rejected.exit()).isEqualTo(1);
        assertThat(rejected.output()).contains("error initializing configuration '" + bad + "'", "adress");
    }

    @Test
    void anUnknownFlagOrAMissingParentIsFatal() throws Exception {
        Run unknown = run("-c", bootstrap.toString(), "--no-such-flag");
        assertThat(unknown.exit()).isEqualTo(1);
        assertThat(unknown.output()).contains("PARSE ERROR", "--no-such-flag");

        Run orphan = run("-c", bootstrap.toString(), "--restart-epoch", "1", "-l", "info");
        assertThat(orphan.exit()).isEqualTo(1);
        assertThat(orphan.output()).contains("unable to connect to parent epoch 0");
    }

    @Test
    void captureListenerReportsTheOriginalDestinationOfARedirectedConnection() throws Exception {
        // A network namespace of our own: the REDIRECT rule and the address never touch the host's network.
        String namespace = "envoy-it-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 100000;
        Process envoy = null;
        sh("ip", "netns", "add", namespace);
        try {
            sh("ip", "-n", namespace, "link", "set", "lo", "up");
            sh("ip", "-n", namespace, "addr", "add", "192.0.2.10/32", "dev", "lo");
            sh("ip", "netns", "exec", namespace, "iptables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
                    "-d", "192.0.2.10", "--dport", "8080", "-j", "REDIRECT", "--to-ports",
                    Integer.toString(standIn.outboundPort()));
            envoy = new ProcessBuilder("ip", "netns", "exec", namespace, standIn.binary().toString(),
                    "-c", bootstrap.toString()).redirectErrorStream(true)
                    .redirectOutput(standIn.dir().resolve("netns-envoy.log").toFile()).start();

            String redirected = firstLine(namespace, "192.0.2.10", 8080);
            assertThat(redirected).isEqualTo("ORIGINAL_DST 192.0.2.10:8080 EPOCH 0");
            assertThat(firstLine(namespace, "127.0.0.1", standIn.outboundPort()))
                    .isEqualTo("ORIGINAL_DST 127.0.0.1:" + standIn.outboundPort() + " EPOCH 0");
        } finally {
            if (envoy != null) {
                envoy.destroyForcibly().waitFor();
            }
            sh("ip", "netns", "del", namespace);
        }
    }

    /** Connects from inside {@code namespace} and returns the first line the listener wrote. */
    private static String firstLine(String namespace, String host, int port) throws Exception {
        String[] line = new String[1];
        io.istiovm.agent.testing.Await.until("listener answers on " + host + ":" + port,
                java.time.Duration.ofSeconds(60), () -> {
                    Process client = new ProcessBuilder("ip", "netns", "exec", namespace, "timeout", "5", "bash", "-c",
                            "exec 3<>/dev/tcp/" + host + "/" + port + " && head -n 1 <&3").start();
                    String out = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                    client.waitFor(10, TimeUnit.SECONDS);
                    line[0] = out;
                    return out.startsWith("ORIGINAL_DST");
                });
        return line[0];
    }

    private static void sh(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + ": " + output).isZero();
    }
}
