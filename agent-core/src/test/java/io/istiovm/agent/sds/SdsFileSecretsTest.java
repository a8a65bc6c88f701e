package io.istiovm.agent.sds;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SdsTestClient;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.VictimFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file secrets pilot-agent serves ({@code file-root:system}, {@code file-root:PATH}, {@code file-cert:A~B}),
 * asked for by a client that behaves as Envoy does, re-pushed when the files change (the poll stepped on the
 * test's clock), and refused outside the allowed directories or through another user's links.
 */
class SdsFileSecretsTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration POLL = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private final TestIdentities ca = new TestIdentities();
    private final IdentityHolder identities = new IdentityHolder();
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-11-26T10:00:00Z"));
    private final ManualLoops loops = new ManualLoops(clock);
    private Path allowed;
    private Path osBundle;
    private SdsServer.Serving server;
    private SdsTestClient client;

    @BeforeEach
    void start() throws Exception {
        allowed = Files.createDirectories(dir.resolve("allowed"));
        osBundle = Files.createDirectories(dir.resolve("os")).resolve("ca-certificates.crt");
        Files.writeString(osBundle, ca.issue().rootCertificatePem());
        SdsSettings settings = new SdsSettings(dir.resolve("sds/socket"), OptionalInt.empty(), 1337,
                List.of(allowed), List.of(dir.resolve("os/missing.pem"), osBundle), POLL);
        server = new SdsServer(identities, () -> settings).prepare()
                .start(ComponentContext.of("sds", loops, new AgentState(clock)));
        client = new SdsTestClient(server.socket());
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.stop();
    }

    private static String trustedCa(Secret secret) {
        return secret.getValidationContext().getTrustedCa().getInlineBytes().toString(StandardCharsets.UTF_8);
    }

    /** Steps the clock past one poll and runs it on this thread. */
    private void poll() {
        loops.advance(POLL);
    }

    @Test
    void fileRootSystemIsTheFirstOsBundleThatExistsAndIsPushedAgainWhenItChanges() throws Exception {
        SdsTestClient.Stream stream = client.stream("file-root:system", SdsTestClient::acceptAll, s -> { });
        assertThat(stream.awaitResponses(1, WAIT)).isTrue();
        Secret first = stream.lastSecret().orElseThrow();
        assertThat(first.getName()).isEqualTo("file-root:system");
        assertThat(trustedCa(first)).isEqualTo(Files.readString(osBundle));

        poll();
        assertThat(stream.responses()).as("unchanged: nothing pushed").isEqualTo(1);
        String rotated = Files.readString(osBundle) + new TestIdentities().issue().rootCertificatePem();
        Files.writeString(osBundle, rotated);
        poll();
        assertThat(stream.awaitResponses(2, WAIT)).isTrue();
        assertThat(trustedCa(stream.lastSecret().orElseThrow())).isEqualTo(rotated);
        assertThat(stream.rejections()).isZero();
    }

    @Test
    void fileRootPathIsServedAndPushedOnlyToTheStreamsThatAskedForIt() throws Exception {
        identities.set(ca.issue());
        Path bundle = Files.writeString(allowed.resolve("roots.pem"), ca.issue().rootCertificatePem());
        SdsTestClient.Stream roots = client.stream("file-root:" + bundle, SdsTestClient::acceptAll, s -> { });
        SdsTestClient.Stream workload = client.stream("default", SdsTestClient::acceptAll, s -> { });
        assertThat(roots.awaitResponses(1, WAIT)).isTrue();
        assertThat(workload.awaitResponses(1, WAIT)).isTrue();
        assertThat(roots.lastSecret().orElseThrow().getName()).isEqualTo("file-root:" + bundle);
        assertThat(trustedCa(roots.lastSecret().orElseThrow())).isEqualTo(Files.readString(bundle));

        String next = new TestIdentities().issue().rootCertificatePem();
        assertThat(next).as("another CA").isNotEqualTo(Files.readString(bundle));
        Files.writeString(bundle, next);
        poll();
        assertThat(roots.awaitResponses(2, WAIT)).isTrue();
        assertThat(trustedCa(roots.lastSecret().orElseThrow())).isEqualTo(next);
        assertThat(workload.responses()).as("the workload stream did not ask for that file").isEqualTo(1);
    }

    @Test
    void fileCertIsAChainAndKeyPairPushedWhenEitherChanges() throws Exception {
        ServedIdentity pair = ca.issue();
        Path chain = Files.writeString(allowed.resolve("chain.pem"), pair.certificateChainPem());
        Path key = Files.writeString(allowed.resolve("key.pem"), pair.privateKeyPem());
        String name = "file-cert:" + chain + "~" + key;
        SdsTestClient.Stream stream = client.stream(name, SdsTestClient::acceptAll, s -> { });
        assertThat(stream.awaitResponses(1, WAIT)).isTrue();
        Secret secret = stream.lastSecret().orElseThrow();
        assertThat(secret.getName()).isEqualTo(name);
        assertThat(secret.getTlsCertificate().getCertificateChain().getInlineBytes().toString(StandardCharsets.UTF_8))
                .isEqualTo(pair.certificateChainPem());
        assertThat(secret.getTlsCertificate().getPrivateKey().getInlineBytes().toString(StandardCharsets.UTF_8))
                .isEqualTo(pair.privateKeyPem());

        ServedIdentity next = ca.issue();
        Files.writeString(key, next.privateKeyPem());
        Files.writeString(chain, next.certificateChainPem());
        poll();
        assertThat(stream.awaitResponses(2, WAIT)).isTrue();
        assertThat(stream.lastSecret().orElseThrow().getTlsCertificate().getPrivateKey().getInlineBytes()
                .toString(StandardCharsets.UTF_8)).isEqualTo(next.privateKeyPem());
        Await.until("server saw the ACK", WAIT, () -> server.streams().get(0).ackedVersion()
                .equals(Optional.of(stream.acceptedVersion())));
    }

    @Test
    void aFileMissingOrHalfWrittenAtAPollKeepsTheLastContentServed() throws Exception {
        Path bundle = Files.writeString(allowed.resolve("roots.pem"), ca.issue().rootCertificatePem());
        SdsTestClient.Stream stream = client.stream("file-root:" + bundle, SdsTestClient::acceptAll, s -> { });
        assertThat(stream.awaitResponses(1, WAIT)).isTrue();
        Files.writeString(bundle, "-----BEGIN CERTIFICATE-----\nMIIB");
        poll();
        Files.delete(bundle);
        poll();
        assertThat(stream.failure()).isEmpty();
        assertThat(server.streams()).hasSize(1);

        // The stream lives on, and the next good content is the next (second) response.
        String next = new TestIdentities().issue().rootCertificatePem();
        Files.writeString(bundle, next);
        poll();
        assertThat(stream.awaitResponses(2, WAIT)).isTrue();
        assertThat(trustedCa(stream.lastSecret().orElseThrow())).isEqualTo(next);
        assertThat(stream.responses()).isEqualTo(2);
        assertThat(stream.rejections()).isZero();
    }

    @Test
    void aPathOutsideTheAllowedDirectoriesIsRefusedAndNothingOfItIsSent() throws Exception {
        VictimFile victim = VictimFile.secretFile(Files.createDirectories(dir.resolve("elsewhere"))
                .resolve("victim.pem"));
        Files.writeString(victim.path(), ca.issue().rootCertificatePem());
        victim = VictimFile.record(victim.path());
        for (String name : List.of("file-root:" + victim.path(),
                "file-root:" + allowed + "/../elsewhere/victim.pem",
                "file-root:" + allowed + "//roots.pem",
                "file-root:elsewhere/victim.pem",
                "file-cert:" + victim.path() + "~" + victim.path())) {
            SdsTestClient.Stream stream = client.stream(name, SdsTestClient::acceptAll, s -> { });
            assertThat(stream.awaitFailure(WAIT)).as(name).isTrue();
            assertThat(stream.responses()).isZero();
            Status.Code code = ((StatusRuntimeException) stream.failure().orElseThrow()).getStatus().getCode();
            assertThat(code).as(name).isIn(Status.Code.PERMISSION_DENIED, Status.Code.INVALID_ARGUMENT);
        }
        victim.assertUntouched();
    }

    @Test
    void aLinkIsFollowedOnlyWhereNoUserButRootCanChangeIt() throws Exception {
        String content = ca.issue().rootCertificatePem();
        Path target = Files.writeString(Files.createDirectories(dir.resolve("real")).resolve("bundle.pem"), content);
        // RHEL's ca-bundle.crt: root's link in root's 0755 directory.
        Path rootsLink = Files.createSymbolicLink(allowed.resolve("ca-bundle.crt"), target);
        SdsTestClient.Stream followed = client.stream("file-root:" + rootsLink, SdsTestClient::acceptAll, s -> { });
        assertThat(followed.awaitResponses(1, WAIT)).isTrue();
        assertThat(trustedCa(followed.lastSecret().orElseThrow())).isEqualTo(content);

        // Envoy's user's directory (the guide's chown): a link there is that user's choice, never followed.
        Path shared = Files.createDirectories(allowed.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path planted = Files.createSymbolicLink(shared.resolve("roots.pem"), target);
        SdsTestClient.Stream refused = client.stream("file-root:" + planted, SdsTestClient::acceptAll, s -> { });
        assertThat(refused.awaitFailure(WAIT)).isTrue();
        assertThat(refused.responses()).isZero();
        assertThat(((StatusRuntimeException) refused.failure().orElseThrow()).getStatus().getDescription())
                .contains("symbolic link in a directory users other than root can write");
    }

    @Test
    void aFifoIsRefusedWithoutBlockingTheServer() throws Exception {
        Path fifo = allowed.resolve("roots.pem");
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor();
        SdsTestClient.Stream stream = client.stream("file-root:" + fifo, SdsTestClient::acceptAll, s -> { });
        assertThat(stream.awaitFailure(WAIT)).isTrue();
        assertThat(((StatusRuntimeException) stream.failure().orElseThrow()).getStatus().getDescription())
                .contains("is not a regular file");
        identities.set(ca.issue());
        assertThat(client.fetch(List.of("ROOTCA")).getResourcesCount()).as("still serving").isEqualTo(1);
    }
}
