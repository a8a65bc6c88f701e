package io.istiovm.agent.it.sandbox;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.EnvoyArea;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.sds.SdsServer;
import io.istiovm.agent.sds.SdsSettings;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.JavaProcess;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import io.istiovm.agent.testing.TestPki;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The sandbox's traffic path with real sockets, in two network namespaces this test creates and removes (the
 * host's network is never touched): "vm" runs the Envoy stand-in, fed its identity by the agent's SDS server, with
 * REDIRECT capture rules and an application (python3's http.server on 127.0.0.1:8888, as in the guide); "cluster"
 * runs the {@link SandboxGateway} on 15443 (mesh-root mTLS, SNI routing) and the {@link SandboxHttpbin} behind it.
 *
 * <pre>
 *   vm 10.200.0.1                                           cluster 10.200.0.2
 *   curl 127.255.0.3:8000 -REDIRECT-&gt; stand-in 15001 ==mTLS, SNI outbound_.8000_._.httpbin...==&gt;
 *                                                           gateway 15443 -&gt; httpbin 127.0.0.1:8000
 *   app 127.0.0.1:8888 &lt;- stand-in 15006 &lt;-REDIRECT- 10.200.0.1:8888 &lt;---- curl
 * </pre>
 */
class SandboxTrafficIT {
    /** The guide's httpbin.bar.global address in the VM's hosts block. */
    private static final String SERVICE_IP = Sandbox.SERVICE_IP;
    private static final String SNI = Sandbox.SNI;
    private static final String WORKLOAD = TestCa.identity("vm", "vm1");
    /** The gateway stands in for httpbin's sidecar too (see {@link SandboxGateway}): it presents httpbin's id. */
    private static final String GATEWAY_ID = Sandbox.GATEWAY_ID;
    /** A service whose route expects another identity than the one behind the gateway. */
    private static final String IMPOSTOR_IP = "127.255.0.4";
    private static final String GATEWAY = Sandbox.GATEWAY;
    private static final Duration WAIT = Duration.ofSeconds(60);
    /**
     * curl's exit codes (curl(1), EXIT CODES): no reply at all (52); a failed handshake (35), or a refusal the client
     * reads after it (56: with TLS 1.3 the server judges the client's certificate after the client's Finished).
     */
    private static final int CURL_EMPTY_REPLY = 52;
    private static final List<Integer> CURL_TLS_FAILURES = List.of(35, 56);

    private final List<Process> processes = new ArrayList<>();
    private final SteppingClock clock = new SteppingClock(Instant.now());
    private final IdentityHolder identities = new IdentityHolder();
    private EnvoyStandInFixture standIn;
    private VmPeerNetwork network;
    private SdsServer.Serving sds;
    private TestPki mesh;
    private Path dir;

    @BeforeEach
    void start() throws Exception {
        standIn = new EnvoyStandInFixture();
        dir = standIn.dir();
        Instant now = Instant.now();
        mesh = TestPki.create("sandbox mesh root", now.minusSeconds(60), now.plus(Duration.ofDays(1)));
        network = VmPeerNetwork.create();

        // The agent's SDS server, serving the workload's identity as the agent would once issued.
        identities.set(identity(mesh, WORKLOAD));
        Path socket = standIn.socketsDir().resolve("sds/socket");
        sds = new SdsServer(identities, () -> new SdsSettings(socket, OptionalInt.empty(),
                EnvoyStandInFixture.ENVOY_UID, List.of(standIn.socketsDir()), List.of(),
                SdsSettings.FILE_POLL_INTERVAL)).prepare()
                .start(ComponentContext.of("sds", new ManualLoops(clock), new AgentState(clock)));

        // Cluster: gateway and httpbin, one process in the cluster namespace.
        mesh.writeIdentity(dir.resolve("gateway"), GATEWAY_ID, now.minusSeconds(60), now.plus(Duration.ofHours(1)),
                mesh.root());
        List<String> cluster = new ArrayList<>(List.of("ip", "netns", "exec", network.peer()));
        cluster.addAll(JavaProcess.command(SandboxCluster.class, "--identity", dir.resolve("gateway").toString(),
                "--gateway", GATEWAY, "--httpbin", "127.0.0.1:8000", "--route", SNI + "=127.0.0.1:8000"));
        processes.add(new ProcessBuilder(cluster).redirectErrorStream(true)
                .redirectOutput(dir.resolve("cluster.log").toFile()).start());
        Await.until("the gateway and httpbin listen", WAIT,
                () -> Files.readString(dir.resolve("cluster.log")).contains("READY\n"), () -> log("cluster.log"));

        // VM: capture rules, the application, the stand-in with its routes.
        iptablesRestore(network.vm(), "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                + "-A OUTPUT -p tcp -d " + SERVICE_IP + "/32 --dport 8000 -j REDIRECT --to-ports "
                + standIn.outboundPort() + "\n"
                + "-A OUTPUT -p tcp -d " + IMPOSTOR_IP + "/32 --dport 8000 -j REDIRECT --to-ports "
                + standIn.outboundPort() + "\n"
                + "-A PREROUTING -p tcp --dport 8888 -j REDIRECT --to-ports " + standIn.inboundPort() + "\n"
                + "COMMIT\n");
        Path app = Files.createDirectories(dir.resolve("app"));
        Files.writeString(app.resolve("hello.txt"), "hello from the vm's application\n");
        processes.add(new ProcessBuilder("ip", "netns", "exec", network.vm(), "python3", "-m", "http.server", "8888",
                "--bind", "127.0.0.1", "--directory", app.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("app.log").toFile()).start());

        Path routes = dir.resolve("routes");
        Files.writeString(routes, "# what istiod would configure for the guide's scenario\n"
                + Sandbox.outboundRoute(SERVICE_IP, GATEWAY_ID)
                + Sandbox.outboundRoute(IMPOSTOR_IP, TestCa.identity("bar", "other"))
                + "inbound 8888\n");
        Path configDir = Files.createDirectories(dir.resolve("agent-config"));
        EnvoyArea area = new EnvoyArea(TestConfigs.inMemory(configDir, standIn.clusterEnv()),
                AgentRuntime.system(CliRun.TEST_HOST), new IdentityHolder());
        Path bootstrap = dir.resolve("proxy/envoy-rev0.json");
        Files.writeString(bootstrap, area.bootstrap().json());
        Files.createDirectories(standIn.adminSocket().getParent());
        ProcessBuilder envoy = new ProcessBuilder("ip", "netns", "exec", network.vm(), standIn.binary().toString(),
                "-c", bootstrap.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("envoy.log").toFile());
        envoy.environment().put("ENVOY_STANDIN_ROUTES", routes.toString());
        // Inbound connections arrive on the veth's address: the capture listeners take every address, as Envoy's.
        envoy.environment().put("ENVOY_STANDIN_CAPTURE_ADDRESS", "0.0.0.0");
        processes.add(envoy.start());
        Await.until("the stand-in is LIVE with its SDS identity", WAIT,
                () -> standIn.admin("/ready").orElse("").startsWith("200 LIVE"), () -> log("envoy.log"));
        Await.until("the application listens", WAIT,
                () -> curl(network.vm(), "http://127.0.0.1:8888/hello.txt").exit() == 0);
    }

    @AfterEach
    void stop() throws Exception {
        for (Process process : processes) {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (sds != null) {
            sds.stop();
        }
        if (network != null) {
            network.close();
        }
        if (standIn != null) {
            standIn.close();
        }
    }

    @Test
    void aCapturedOutboundRequestReachesHttpbinThroughTheStandInAndTheGatewayWithTheWorkloadsIdentity()
            throws Exception {
        Curl answer = curl(network.vm(), "-i", "http://" + SERVICE_IP + ":8000/get?show_env=1");

        assertThat(answer.exit()).as(answer + log("envoy.log") + log("cluster.log")).isZero();
        assertThat(answer.out()).startsWith("HTTP/1.1 200");
        String head = answer.out().substring(0, answer.out().indexOf("\r\n\r\n"));
        assertThat(head.lines().map(String::strip)).as("the sidecar's mark on the answer").contains("server: envoy");
        String body = answer.out().substring(answer.out().indexOf("\r\n\r\n") + 4);
        assertThat(body).as("what httpbin saw")
                .contains("\"path\": \"/get?show_env=1\"")
                .contains("\"peer\": \"" + WORKLOAD + "\"")
                .contains("\"original_destination\": \"" + SERVICE_IP + ":8000\"")
                .contains("\"x-forwarded-client-cert\": \"By=" + GATEWAY_ID + ";Hash=")
                .contains("\"host\": \"" + SERVICE_IP + ":8000\"");
    }

    @Test
    void theStandInRefusesAnUpstreamThatIsNotTheIdentityTheRouteNames() throws Exception {
        Curl answer = curl(network.vm(), "http://" + IMPOSTOR_IP + ":8000/get");

        // 52, "empty reply": captured and accepted, then closed once the upstream's certificate was refused (not 7,
        // "connection refused", which a missing capture rule would give).
        assertThat(answer.exit()).as(answer + log("envoy.log")).isEqualTo(CURL_EMPTY_REPLY);
        assertThat(answer.out()).doesNotContain("\"peer\"");
    }

    @Test
    void aRotatedIdentityIsTheOneTheGatewaySeesFromTheNextConnectionOn() throws Exception {
        ServedIdentity first = identities.current().orElseThrow();
        assertThat(outboundBody()).contains("Hash=" + leafHash(first) + ";");

        ServedIdentity rotated = identity(mesh, WORKLOAD);
        identities.set(rotated);
        Await.until("the stand-in holds the rotated certificate", WAIT,
                () -> standIn.certChainSerials().contains(rotated.version()), () -> log("envoy.log"));

        String body = outboundBody();
        assertThat(body).contains("\"peer\": \"" + WORKLOAD + "\"").contains("Hash=" + leafHash(rotated) + ";")
                .doesNotContain(leafHash(first));
    }

    private String outboundBody() throws IOException, InterruptedException {
        Curl answer = curl(network.vm(), "http://" + SERVICE_IP + ":8000/get");
        assertThat(answer.exit()).as(answer + log("envoy.log") + log("cluster.log")).isZero();
        return answer.out();
    }

    /** XFCC's Hash: the SHA-256 of the leaf's DER, in hex. */
    private static String leafHash(ServedIdentity identity) throws Exception {
        X509Certificate leaf = (X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                .generateCertificate(new java.io.ByteArrayInputStream(
                        identity.certificateChainPem().getBytes(StandardCharsets.US_ASCII)));
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(leaf.getEncoded()));
    }

    @Test
    void aCapturedInboundConnectionFromTheClusterReachesTheApplication() throws Exception {
        // The application listens on 127.0.0.1 only: from the cluster it is reachable through the capture alone.
        Curl answer = curl(network.peer(), "http://" + VmPeerNetwork.VM_IPV4 + ":8888/hello.txt");

        assertThat(answer.exit()).as(answer + log("envoy.log") + log("cluster.log")).isZero();
        assertThat(answer.out()).isEqualTo("hello from the vm's application\n");
    }

    @Test
    void theGatewayRefusesAClientCertificateFromAnotherRootOrNone() throws Exception {
        Instant now = Instant.now();
        TestPki foreign = TestPki.create("not the mesh root", now.minusSeconds(60), now.plus(Duration.ofDays(1)));
        foreign.writeIdentity(dir.resolve("foreign"), WORKLOAD, now.minusSeconds(60), now.plus(Duration.ofHours(1)),
                foreign.root());
        mesh.writeIdentity(dir.resolve("member"), TestCa.identity("vm", "other"), now.minusSeconds(60),
                now.plus(Duration.ofHours(1)), mesh.root());

        Curl member = direct(dir.resolve("member"));
        assertThat(member.exit()).as("control: a mesh member with the same client and SNI is served: " + member)
                .isZero();
        assertThat(member.out()).contains("\"peer\": \"" + TestCa.identity("vm", "other") + "\"");

        Curl stranger = direct(dir.resolve("foreign"));
        assertThat(stranger.exit()).as(stranger.toString()).isIn(CURL_TLS_FAILURES);
        assertThat(stranger.out()).doesNotContain("\"peer\"");

        Curl anonymous = curl(network.vm(), "-k", "--resolve", SNI + ":15443:" + VmPeerNetwork.PEER_IPV4,
                "https://" + SNI + ":15443/get");
        assertThat(anonymous.exit()).as(anonymous.toString()).isIn(CURL_TLS_FAILURES);
        assertThat(anonymous.out()).doesNotContain("\"peer\"");
    }

    /** From the vm straight to the gateway (no stand-in) with Istio's SNI and the identity in {@code identity}. */
    private Curl direct(Path identity) throws IOException, InterruptedException {
        return curl(network.vm(), "-k", "--cert", identity.resolve("cert-chain.pem").toString(), "--key",
                identity.resolve("key.pem").toString(), "--resolve", SNI + ":15443:" + VmPeerNetwork.PEER_IPV4,
                "https://" + SNI + ":15443/get");
    }

    private static ServedIdentity identity(TestPki pki, String spiffeUri) {
        KeyPair keys = TestPki.ecKeys();
        Instant now = Instant.now();
        X509Certificate leaf = pki.issue(keys.getPublic(), List.of(spiffeUri), List.of(), now.minusSeconds(60),
                now.plus(Duration.ofHours(1)));
        return new ServedIdentity(Pem.encodeCertificates(pki.chainFor(leaf)),
                new String(Pem.encodePrivateKey(keys.getPrivate(), true), StandardCharsets.US_ASCII),
                Pem.encodeCertificates(List.of(pki.root())), leaf.getSerialNumber().toString(16));
    }

    private record Curl(int exit, String out, String err) {
    }

    private static Curl curl(String namespace, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace, "curl", "-sS",
                "--max-time", "10"));
        command.addAll(List.of(args));
        VmPeerNetwork.ProcessResult result = VmPeerNetwork.exec(command);
        return new Curl(result.exitCode(), result.stdout(), result.stderr());
    }

    private static void iptablesRestore(String namespace, String rules) throws IOException, InterruptedException {
        Process restore = new ProcessBuilder("ip", "netns", "exec", namespace, "iptables-restore", "-w", "5")
                .redirectErrorStream(true).start();
        try (OutputStream in = restore.getOutputStream()) {
            in.write(rules.getBytes(StandardCharsets.US_ASCII));
        }
        String out = new String(restore.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(restore.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(restore.exitValue()).as(out).isZero();
    }

    /** One of the processes' logs, for failure messages. */
    private String log(String name) {
        try {
            return "\n" + name + ":\n" + Files.readString(dir.resolve(name));
        } catch (IOException e) {
            return "\n(no " + name + ": " + e + ")";
        }
    }
}
