package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The packaged agent ({@code run}) in the VM network namespace of a {@link VmPeerNetwork}, supervising the Envoy
 * stand-in, with its capture rules in that namespace and real packets from the peer: the start order that holds
 * traffic (and the fail-closed one), and SIGHUP reloads that change rules without touching Envoy, hot-restart
 * Envoy on a bootstrap change while a connection stays open, and refuse an invalid configuration leaving
 * everything as it was.
 *
 * <p>The stand-in is started through a wrapper that, on its first launch only, waits at a FIFO the test opens:
 * so the test sees the host while Envoy is being started but is not yet listening.
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): each method's namespaces
 * ({@link VmPeerNetwork}: random names), stand-in (own directories, free ports) and rules are its own.
 */
@Execution(ExecutionMode.CONCURRENT)
class AgentReloadIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Pattern SERVER_INFO = Pattern.compile("\"state\":\"(\\w+)\",\"epoch\":(\\d+)");

    private VmPeerNetwork net;
    private EnvoyStandInFixture standIn;
    private AgentProcess agent;
    private Path configDir;
    private EnvoyGate gate;

    @BeforeEach
    void create() throws Exception {
        net = VmPeerNetwork.create();
        standIn = new EnvoyStandInFixture();
        TestIdentities.writeFiles(new TestIdentities().issue("bar", "httpbin"), standIn.certsDir());
        configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        Files.writeString(standIn.dir().resolve("sshd_config"), "Port 22\n");
        gate = new EnvoyGate(standIn, "ENVOY_STANDIN_CAPTURE_ADDRESS=0.0.0.0");
    }

    @AfterEach
    void remove() throws Exception {
        if (agent != null) {
            agent.close();
        }
        standIn.close();
        net.close();
    }

    private void writeConfig(String... overrides) throws IOException {
        String[] all = new String[overrides.length + 6];
        all[0] = "ISTIO_CUSTOM_IP_TABLES=false";
        all[1] = "ISTIO_SVC_IP=" + VmPeerNetwork.VM_IPV4;
        all[2] = "VM_AGENT_ENVOY_BINARY=" + gate.binary();
        all[3] = "VM_AGENT_SSHD_CONFIG=" + standIn.dir().resolve("sshd_config");
        all[4] = "ISTIO_INBOUND_PORTS=8080";
        // The parent epoch keeps its connections long after a hot restart, as Istio's 60 s default does.
        all[5] = "VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME=60s";
        System.arraycopy(overrides, 0, all, 6, overrides.length);
        Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv(all));
    }

    private void startAgent() throws IOException {
        agent = AgentProcess.startInNetworkNamespace(net.vm(), standIn.dir().resolve("agent.log"), Map.of(),
                "run", "--config-dir", configDir.toString());
    }


    private boolean captureRulesPresent() throws IOException {
        return net.vmSave(false).contains("istio-vm-agent");
    }

    /**
     * Connects from the peer to the VM and returns the first line the VM answered (the stand-in's capture listener
     * keeps the connection open to echo, so the line is read alone), or "no answer: ..." when nothing answered.
     */
    private String connectFromPeer(int port) throws IOException {
        VmPeerNetwork.ProcessResult result = VmPeerNetwork.exec(List.of("ip", "netns", "exec", net.peer(), "timeout",
                "5", "bash", "-c", "exec 3<>/dev/tcp/" + VmPeerNetwork.VM_IPV4 + "/" + port
                        + " && IFS= read -r line <&3 && echo \"$line\""));
        return result.exitCode() == 0 ? result.stdout().strip() : "no answer: " + result.stderr().strip();
    }

    /** {@code state epoch} from the stand-in's /server_info, on its admin socket (a file: any namespace reaches it). */
    private String envoyState() {
        Matcher m = SERVER_INFO.matcher(standIn.admin("/server_info").orElse(""));
        return m.find() ? m.group(1) + " " + m.group(2) : "no answer";
    }

    private String agentLog() {
        return agent.logText();
    }

    /** Waits until the agent's log has {@code line}: the point after which the state asserted next must hold. */
    private void awaitLog(String what, String line) throws Exception {
        Await.until(what, WAIT, () -> agentLog().contains(line), this::agentLog);
    }

    @Test
    void byDefaultNoRuleExistsUntilEnvoyIsLiveAndReloadsApplyOnlyWhatChanged() throws Exception {
        writeConfig();
        startAgent();
        gate.awaitHeld(WAIT, this::agentLog);
        awaitLog("capture waiting for Envoy", "capture: starting (waiting for envoy");
        assertThat(captureRulesPresent()).as("no capture rule while Envoy is not LIVE").isFalse();
        assertThat(connectFromPeer(8080)).as("nothing captures the application's port yet")
                .startsWith("no answer");

        gate.open();
        Await.until("Envoy LIVE", WAIT, () -> envoyState().equals("LIVE 0"), this::agentLog);
        Await.until("capture rules applied after LIVE", WAIT, this::captureRulesPresent, this::agentLog);
        assertThat(connectFromPeer(8080)).isEqualTo("ORIGINAL_DST " + VmPeerNetwork.VM_IPV4 + ":8080 EPOCH 0");
        assertThat(connectFromPeer(8888)).startsWith("no answer");
        List<Long> envoy = standIn.alivePids();
        assertThat(envoy).hasSize(1);
        List<String> threads = agent.threads();
        System.out.println("AgentReloadIT: agent threads once ready: " + threads.size() + " " + threads);

        // A new inbound port: the rules change, Envoy does not.
        writeConfig("ISTIO_INBOUND_PORTS=8080,8888");
        agent.reload();
        Await.until("the new port is captured", WAIT, () -> connectFromPeer(8888).equals("ORIGINAL_DST "
                + VmPeerNetwork.VM_IPV4 + ":8888 EPOCH 0"), this::agentLog);
        assertThat(standIn.alivePids()).isEqualTo(envoy);
        assertThat(envoyState()).isEqualTo("LIVE 0");

        // A bootstrap change: hot restart to epoch 1, with a connection held open through it.
        try (HeldConnection held = new HeldConnection(net.peer(), VmPeerNetwork.VM_IPV4, 8080)) {
            assertThat(held.firstLine()).isEqualTo("ORIGINAL_DST " + VmPeerNetwork.VM_IPV4 + ":8080 EPOCH 0");
            writeConfig("ISTIO_INBOUND_PORTS=8080,8888", "ISTIO_META_RELOAD_TEST=changed");
            agent.reload();
            Await.until("hot restart to epoch 1", WAIT, () -> envoyState().equals("LIVE 1"), this::agentLog);
            assertThat(connectFromPeer(8080)).isEqualTo("ORIGINAL_DST " + VmPeerNetwork.VM_IPV4 + ":8080 EPOCH 1");
            assertThat(held.echo("still here")).as("the connection held through the hot restart")
                    .isEqualTo("still here");
        }

        // An invalid configuration: refused, and rules, hosts block, Envoy and identity stay exactly as they were.
        String rules = net.vmSave(false);
        String hosts = Files.readString(standIn.hostsFile());
        List<Long> envoys = standIn.alivePids();
        Map<String, byte[]> certs = IdentityFiles.read(standIn.certsDir());
        writeConfig("ISTIO_INBOUND_PORTS=8080,notaport");
        agent.reload();
        awaitLog("reload refused", "reload refused");
        assertThat(agent.isAlive()).isTrue();
        assertThat(net.vmSave(false)).isEqualTo(rules);
        assertThat(Files.readString(standIn.hostsFile())).isEqualTo(hosts);
        assertThat(standIn.alivePids()).isEqualTo(envoys);
        assertThat(envoyState()).isEqualTo("LIVE 1");
        assertThat(IdentityFiles.read(standIn.certsDir())).containsOnlyKeys(certs.keySet())
                .allSatisfy((name, bytes) -> assertThat(bytes).isEqualTo(certs.get(name)));

        // Stop: rules out first, then the rest.
        agent.close();
        assertThat(captureRulesPresent()).isFalse();
        assertThat(Files.readString(standIn.hostsFile())).doesNotContain("istio-vm-agent");
    }

    @Test
    void failClosedPutsTheRulesInBeforeEnvoyStarts() throws Exception {
        writeConfig("VM_AGENT_CAPTURE_FAIL_CLOSED=true");
        startAgent();
        gate.awaitHeld(WAIT, this::agentLog);
        assertThat(captureRulesPresent()).as("rules exist before Envoy starts").isTrue();
        assertThat(connectFromPeer(8080)).as("captured, and refused while Envoy does not listen")
                .startsWith("no answer");
        gate.open();
        Await.until("Envoy LIVE", WAIT, () -> envoyState().equals("LIVE 0"), this::agentLog);
        assertThat(connectFromPeer(8080)).isEqualTo("ORIGINAL_DST " + VmPeerNetwork.VM_IPV4 + ":8080 EPOCH 0");
    }

    /** The certificate directory's entries, read as bytes (links followed as Envoy would). */
    private static final class IdentityFiles {
        static Map<String, byte[]> read(Path dir) throws IOException {
            Map<String, byte[]> files = new java.util.TreeMap<>();
            for (String name : List.of("key.pem", "cert-chain.pem", "root-cert.pem")) {
                files.put(name, Files.readAllBytes(dir.resolve(name)));
            }
            return files;
        }
    }

    /**
     * A TCP connection from a namespace held open by a shell: each line the test writes goes to the server and the
     * line the server answers comes back.
     */
    private static final class HeldConnection implements AutoCloseable {
        private final Process shell;
        private final BufferedReader replies;
        private final Writer requests;

        HeldConnection(String namespace, String host, int port) throws IOException {
            shell = new ProcessBuilder("ip", "netns", "exec", namespace, "bash", "-c",
                    "exec 3<>/dev/tcp/" + host + "/" + port + " || exit 1; IFS= read -r line <&3; echo \"$line\"; "
                            + "while IFS= read -r request; do echo \"$request\" >&3; IFS= read -r reply <&3 || exit 2; "
                            + "echo \"$reply\"; done").redirectError(ProcessBuilder.Redirect.INHERIT).start();
            replies = new BufferedReader(new InputStreamReader(shell.getInputStream(), StandardCharsets.UTF_8));
            requests = new OutputStreamWriter(shell.getOutputStream(), StandardCharsets.UTF_8);
        }

        String firstLine() throws IOException {
            return replies.readLine();
        }

        String echo(String line) throws IOException {
            requests.write(line + "\n");
            requests.flush();
            return replies.readLine();
        }

        @Override
        public void close() throws InterruptedException {
            shell.destroyForcibly();
            shell.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
