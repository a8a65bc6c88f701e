package io.istiovm.agent.sds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SdsTestClient;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.JavaProcess;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SDS server over a real unix socket, driven by a client that speaks the xDS protocol as Envoy does. */
class SdsServerTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    static final int NOBODY_GROUP = 65534;

    @TempDir
    Path dir;

    private final TestIdentities ca = new TestIdentities();
    private final IdentityHolder identities = new IdentityHolder();
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-11-26T10:00:00Z"));
    private final AgentState state = new AgentState(clock);
    private SdsServer.Serving server;
    private SdsTestClient client;

    @BeforeEach
    void start() throws Exception {
        server = start(dir.resolve("sds/socket"), OptionalInt.of(NOBODY_GROUP));
        client = new SdsTestClient(server.socket());
    }

    private SdsServer component(Path socket, OptionalInt group) {
        return new SdsServer(identities, () -> settings(socket, group));
    }

    /** Settings for a test server: Envoy's uid is nobody's, files only below the test's own directory. */
    static SdsSettings settings(Path socket, OptionalInt group) {
        return new SdsSettings(socket, group, NOBODY_GROUP, List.of(socket.getParent().getParent()), List.of(),
                SdsSettings.FILE_POLL_INTERVAL);
    }

    private SdsServer.Serving start(Path socket, OptionalInt group) throws Exception {
        return component(socket, group).prepare().start(ComponentContext.of("sds", new ManualLoops(clock), state));
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.stop();
    }

    @Test
    void socketIsReachableOnlyByTheAgentAndEnvoysGroup() throws Exception {
        Path socket = server.socket();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rw-rw----");
        assertThat(Files.getAttribute(socket, "unix:gid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(NOBODY_GROUP);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())))
                .isEqualTo("rwxr-x---");
        assertThat(Files.getAttribute(socket.getParent(), "unix:gid")).isEqualTo(NOBODY_GROUP);
        assertThat(state.snapshot().component("sds").orElseThrow().phase()).isEqualTo(Phase.READY);
        assertThat(state.snapshot().component("sds").orElseThrow().facts()).containsEntry("socket", socket.toString())
                .containsEntry("streams", "0");
    }

    @Test
    void aReloadTakesANewGroupAtOnceButANewSocketPathNeedsARestart() throws Exception {
        Path socket = server.socket();
        assertThat(server.reload(component(socket, OptionalInt.of(NOBODY_GROUP)).prepare()))
                .isEqualTo(Reconciled.unchanged());

        Reconciled regrouped = server.reload(component(socket, OptionalInt.of(0)).prepare());
        assertThat(regrouped.changed()).isTrue();
        assertThat(regrouped.needsRestart()).isEmpty();
        assertThat(Files.getAttribute(socket, "unix:gid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
        assertThat(Files.getAttribute(socket.getParent(), "unix:gid")).isEqualTo(0);

        Reconciled moved = server.reload(component(dir.resolve("elsewhere/socket"), OptionalInt.of(0)).prepare());
        assertThat(moved.changed()).isFalse();
        assertThat(moved.needsRestart()).hasValueSatisfying(what -> assertThat(what)
                .startsWith("VM_AGENT_SDS_SOCKET changed: restart the agent"));
        assertThat(Files.exists(dir.resolve("elsewhere"))).isFalse();
        identities.set(ca.issue());
        assertThat(client.fetch(List.of("ROOTCA")).getResourcesCount()).as("still serving").isEqualTo(1);
    }

    @Test
    void eachStreamGetsItsSecretAndTheServerRecordsTheAck() throws Exception {
        ServedIdentity identity = ca.issue();
        identities.set(identity);
        List<Secret> received = new CopyOnWriteArrayList<>();
        SdsTestClient.Stream workload = client.stream("default", SdsTestClient::acceptAll, received::add);
        SdsTestClient.Stream root = client.stream("ROOTCA", SdsTestClient::acceptAll, received::add);

        assertThat(workload.awaitAccepted(identity.version(), WAIT)).isTrue();
        assertThat(root.awaitAccepted(identity.version(), WAIT)).isTrue();
        assertThat(received).extracting(Secret::getName).containsExactlyInAnyOrder("default", "ROOTCA");
        Secret tls = received.stream().filter(s -> s.getName().equals("default")).findFirst().orElseThrow();
        assertThat(tls.getTlsCertificate().getCertificateChain().getInlineBytes().toString(StandardCharsets.UTF_8))
                .isEqualTo(identity.certificateChainPem());
        assertThat(tls.getTlsCertificate().getPrivateKey().getInlineBytes().toString(StandardCharsets.UTF_8))
                .isEqualTo(identity.privateKeyPem());
        Secret trust = received.stream().filter(s -> s.getName().equals("ROOTCA")).findFirst().orElseThrow();
        assertThat(trust.getValidationContext().getTrustedCa().getInlineBytes().toString(StandardCharsets.UTF_8))
                .isEqualTo(identity.rootCertificatePem());

        Await.until("server saw both ACKs", WAIT, () -> server.streams().stream()
                .filter(s -> s.ackedVersion().equals(Optional.of(identity.version()))).count() == 2);
    }

    @Test
    void aNewIdentityIsPushedToEveryOpenStream() throws Exception {
        identities.set(ca.issue());
        List<SdsTestClient.Stream> streams = List.of(
                client.stream("default", SdsTestClient::acceptAll, s -> { }),
                client.stream("default", SdsTestClient::acceptAll, s -> { }),
                client.stream("ROOTCA", SdsTestClient::acceptAll, s -> { }),
                client.stream("ROOTCA", SdsTestClient::acceptAll, s -> { }));
        for (SdsTestClient.Stream stream : streams) {
            assertThat(stream.awaitResponses(1, WAIT)).isTrue();
        }

        ServedIdentity rotated = ca.issue();
        identities.set(rotated);
        for (SdsTestClient.Stream stream : streams) {
            assertThat(stream.awaitAccepted(rotated.version(), WAIT)).isTrue();
            assertThat(stream.responses()).isEqualTo(2);
        }
        Await.until("every stream ACKed the rotation", WAIT, () -> server.streams().size() == 4
                && server.streams().stream().allMatch(s -> s.ackedVersion().equals(Optional.of(rotated.version()))));
    }

    @Test
    void aStreamOpenedBeforeAnyIdentityExistsIsAnsweredWhenOneArrives() throws Exception {
        SdsTestClient.Stream stream = client.stream("default", SdsTestClient::acceptAll, s -> { });
        Await.until("stream registered", WAIT, () -> server.streams().size() == 1);
        assertThat(stream.responses()).isZero();

        ServedIdentity identity = ca.issue();
        identities.set(identity);
        assertThat(stream.awaitAccepted(identity.version(), WAIT)).isTrue();
    }

    @Test
    void aNackKeepsThePreviouslyAcceptedVersionAndRecordsEnvoysErrorDetail() throws Exception {
        ServedIdentity first = ca.issue();
        identities.set(first);
        String refused = "Failed to load certificate chain from <inline>";
        SdsTestClient.Stream stream = client.stream("default",
                response -> response.getVersionInfo().equals(first.version())
                        ? Optional.empty() : Optional.of(refused), s -> { });
        assertThat(stream.awaitAccepted(first.version(), WAIT)).isTrue();
        // An ACK that arrives after the next push carries an old nonce and is ignored as stale (xDS rules).
        Await.until("server saw the ACK", WAIT,
                () -> server.streams().get(0).ackedVersion().equals(Optional.of(first.version())));

        identities.set(ca.issue());
        assertThat(stream.awaitResponses(2, WAIT)).isTrue();
        Await.until("server saw the NACK", WAIT, () -> server.streams().get(0).lastRejection().isPresent());
        assertThat(server.streams().get(0).lastRejection()).contains(refused);
        assertThat(server.streams().get(0).ackedVersion()).contains(first.version());
        assertThat(stream.rejections()).isEqualTo(1);
    }

    @Test
    void fetchSecretsAnswersOnceAndIsUnavailableBeforeTheFirstIdentity() {
        assertThatThrownBy(() -> client.fetch(List.of("default")))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

        ServedIdentity identity = ca.issue();
        identities.set(identity);
        DiscoveryResponse response = client.fetch(List.of("default", "ROOTCA"));
        assertThat(response.getVersionInfo()).isEqualTo(identity.version());
        assertThat(response.getResourcesCount()).isEqualTo(2);
        assertThat(response.getNonce()).isNotEmpty();
    }

    @Test
    void aFileInTheSocketsPlaceIsRefusedBeforeStartAndLeftAlone() throws Exception {
        server.stop();
        Path other = dir.resolve("sds/socket");
        Files.writeString(other, "not a socket");
        assertThatThrownBy(() -> component(other, OptionalInt.empty()).prepare())
                .hasMessageContaining("is not a socket");
        assertThat(Files.readString(other)).isEqualTo("not a socket");
        Files.delete(other);
        server = start(other, OptionalInt.empty());
        client.close();
        client = new SdsTestClient(server.socket());
        identities.set(ca.issue());
        assertThat(client.fetch(List.of("ROOTCA")).getResourcesCount()).isEqualTo(1);
    }

    @Test
    void aStaleSocketLeftByAKilledAgentIsReplaced() throws Exception {
        // A separate JVM binds the socket as the agent would and is SIGKILLed: nothing unlinks its socket.
        Path socket = Files.createDirectories(dir.resolve("killed")).resolve("sds.sock");
        JavaProcess.Running agent = JavaProcess.start(JavaProcess.command(StaleSocketMain.class, socket.toString()));
        try {
            agent.awaitLine("bound");
        } finally {
            agent.process().destroyForcibly().waitFor();
        }
        assertThat(agent.process().exitValue()).as("killed by SIGKILL").isEqualTo(128 + 9);
        assertThat(isSocket(socket)).as("the killed agent's socket is still there").isTrue();
        Object staleInode = Files.getAttribute(socket, "unix:ino", LinkOption.NOFOLLOW_LINKS);
        assertThatThrownBy(() -> SocketChannel.open(UnixDomainSocketAddress.of(socket)).close())
                .as("nothing listens on it").isInstanceOf(java.net.ConnectException.class);

        SdsServer.Serving replacing = start(socket, OptionalInt.of(NOBODY_GROUP));
        try (SdsTestClient replaced = new SdsTestClient(socket)) {
            assertThat(Files.getAttribute(socket, "unix:ino", LinkOption.NOFOLLOW_LINKS)).isNotEqualTo(staleInode);
            identities.set(ca.issue());
            assertThat(replaced.fetch(List.of("ROOTCA")).getResourcesCount()).isEqualTo(1);
        } finally {
            replacing.stop();
        }
    }

    private static boolean isSocket(Path path) throws Exception {
        return ((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000) == 0140000;
    }

    /** Binds a unix socket at args[0], says so, and waits to be killed. */
    public static final class StaleSocketMain {
        public static void main(String[] args) throws Exception {
            ServerSocketChannel channel = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
            channel.bind(UnixDomainSocketAddress.of(args[0]));
            System.out.println("bound");
            System.out.flush();
            // Held until the test SIGKILLs this process: nothing ever counts the latch down.
            new java.util.concurrent.CountDownLatch(1).await();
        }
    }

    @Test
    void aReconnectReusingTheLastNonceOfItsPreviousStreamIsAnswered() throws Exception {
        ServedIdentity identity = ca.issue();
        identities.set(identity);
        SdsTestClient.Stream before = client.stream("default", SdsTestClient::acceptAll, s -> { });
        assertThat(before.awaitAccepted(identity.version(), WAIT)).isTrue();
        String lastNonce = before.lastNonce();
        before.close();
        Await.until("first stream gone", WAIT, () -> server.streams().isEmpty());

        // Envoy before 1.29 (envoyproxy/envoy#30155): the new stream's first request carries the old nonce.
        SdsTestClient.Stream after = client.resume("default", identity.version(), lastNonce,
                SdsTestClient::acceptAll, s -> { });
        assertThat(after.awaitResponses(1, WAIT)).as("the first request is answered whatever its nonce").isTrue();
        assertThat(after.lastSecret()).hasValueSatisfying(secret -> assertThat(secret.getName())
                .isEqualTo("default"));
        Await.until("server saw the ACK", WAIT, () -> server.streams().size() == 1
                && server.streams().get(0).ackedVersion().equals(Optional.of(identity.version())));
    }

    @Test
    void aNameThatIsNeitherRootcaNorAFileGetsTheWorkloadCertificateAsPilotAgentServesIt() throws Exception {
        ServedIdentity identity = ca.issue();
        identities.set(identity);
        for (String name : List.of("kubernetes://some-secret", "file-cert:no-separator", "file-root:a~b")) {
            DiscoveryResponse response = client.fetch(List.of(name));
            assertThat(response.getResourcesCount()).isEqualTo(1);
            Secret secret = response.getResources(0).unpack(Secret.class);
            assertThat(secret.getName()).isEqualTo(name);
            assertThat(secret.getTlsCertificate().getCertificateChain().getInlineBytes()
                    .toString(StandardCharsets.UTF_8)).isEqualTo(identity.certificateChainPem());
        }
    }

    @Test
    void aFileThatAppearsAfterPrepareIsRefusedAtStartAndLeftInPlace() throws Exception {
        Path shared = Files.createDirectories(dir.resolve("late"));
        Path socket = shared.resolve("sds.sock");
        SdsServer.Plan plan = component(socket, OptionalInt.of(NOBODY_GROUP)).prepare();
        Files.writeString(socket, "not a socket");
        assertThatThrownBy(() -> plan.start(ComponentContext.of("sds", new ManualLoops(clock), state)))
                .hasMessageContaining("is not a socket");
        assertThat(Files.readString(socket)).isEqualTo("not a socket");
        try (var entries = Files.list(shared)) {
            assertThat(entries).as("no staging directory left behind").containsExactly(socket);
        }
    }

    @Test
    void anExistingDirectoryKeepsItsModeOnlyTheSocketIsTightened() throws Exception {
        Path shared = Files.createDirectories(dir.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxr-xr-x"));
        SdsServer.Serving other = start(shared.resolve("sds.sock"), OptionalInt.of(NOBODY_GROUP));
        try {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(shared))).isEqualTo("rwxr-xr-x");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(other.socket())))
                    .isEqualTo("rw-rw----");
        } finally {
            other.stop();
        }
        assertThat(Files.exists(shared.resolve("sds.sock"))).isFalse();
    }

    @Test
    void aLinkPlantedInTheSocketsPlaceIsRefusedAndItsTargetLeftAlone() throws Exception {
        // Envoy's user owns this directory and plants a link where the socket goes.
        Path shared = Files.createDirectories(dir.resolve("envoy-owned"));
        Path victim = Files.writeString(dir.resolve("victim"), "secret\n");
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rw-------"));
        Path socket = Files.createSymbolicLink(shared.resolve("sds.sock"), victim);
        assertThatThrownBy(() -> start(socket, OptionalInt.of(NOBODY_GROUP))).hasMessageContaining("is not a socket");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(victim))).isEqualTo("rw-------");
        assertThat(Files.getAttribute(victim, "unix:gid")).isEqualTo(0);
        assertThat(Files.readString(victim)).isEqualTo("secret\n");
        try (var entries = Files.list(shared)) {
            assertThat(entries).as("no staging directory left behind").containsExactly(socket);
        }
    }
}
