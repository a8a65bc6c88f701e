package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.IdentityArea;
import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.MetricValues;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import io.istiovm.agent.testing.TestPki;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon component on stepped loops: the test CA issues on the same stepped clock, so hour-long certificates
 * rotate, fail and expire in microseconds of real time, one step at a time.
 */
class IdentityComponentTest {
    private static final String ID = TestCa.identity("vm", "default");
    private static final Duration LIFETIME = Duration.ofHours(1);

    @TempDir
    Path tmp;
    private final SteppingClock clock = new SteppingClock(Instant.now().truncatedTo(ChronoUnit.SECONDS));
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState agent = new AgentState(clock);
    private final List<WorkloadIdentity> published = new ArrayList<>();
    private final Map<String, String> settings = new LinkedHashMap<>();
    private AgentRuntime runtime;
    /** One assembly per test: its identity state outlives reloads, as the daemon's does. */
    private Assembly assembly;
    private TestCa ca;
    private Path certs;
    private Running running;

    @BeforeEach
    void setUp() throws Exception {
        ca = TestCa.start(clock);
        certs = tmp.resolve("certs");
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_TIMEOUT", "2s");
        settings.put("SECRET_TTL", "1h");
        runtime = IdentityAreas.runtime(tmp, loops);
        assembly = new Assembly(runtime);
        area().state().subscribe(published::add);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (running != null) {
            running.stop();
        }
        runtime.close();
        ca.close();
    }

    /** The area for the current {@link #settings}, as a (re)load would make it. */
    private IdentityArea area() {
        return assembly.identity(TestConfigs.inMemory(tmp.resolve("config"), settings));
    }

    private Component component() {
        return area().components().get(0);
    }

    /** Prepares and starts the component; its loop has not stepped yet. */
    private void begin() throws Exception {
        Component component = component();
        running = component.prepare().start(ComponentContext.of(component.name(), loops, agent));
    }

    /** Starts the component and runs its first step. */
    private void start() throws Exception {
        begin();
        loops.runDue();
    }

    private ComponentState status() {
        return agent.reporter("identity").current();
    }

    private WorkloadIdentity current() {
        return area().state().current().orElseThrow();
    }

    private WorkloadIdentity onDisk() throws Exception {
        return new CertsDirectory(certs).load(new IdentityExpectation("cluster.local", "vm", Optional.empty()),
                clock.instant());
    }

    /** Steps to just before the current identity's rotation window, asserts nothing rotated, then through it. */
    private WorkloadIdentity rotateThroughTheWindow() throws Exception {
        WorkloadIdentity before = current();
        Instant[] window = area().settings().rotation().rotationWindow(before.notBefore(), before.notAfter());
        loops.advance(Duration.between(clock.instant(), window[0].minusSeconds(1)));
        assertThat(current()).isSameAs(before);
        loops.advance(Duration.between(clock.instant(), window[1].plusSeconds(1)));
        assertThat(current().serial()).isNotEqualTo(before.serial());
        return current();
    }

    @Test
    void rotatesInTheWindowPublishingAndWritingEachIdentityAgainAndAgain() throws Exception {
        X509Certificate provisioned = ca.writeIdentity(certs, ID, LIFETIME);
        start();
        assertThat(published).extracting(WorkloadIdentity::leaf).containsExactly(provisioned);
        assertThat(status().phase()).isEqualTo(Phase.READY);

        for (int i = 1; i <= 3; i++) {
            WorkloadIdentity rotated = rotateThroughTheWindow();
            assertThat(rotated.spiffeId().uri()).isEqualTo(ID);
            assertThat(rotated.lifetime()).isEqualTo(LIFETIME);
            assertThat(rotated.notBefore()).isAfter(provisioned.getNotBefore().toInstant());
            assertThat(onDisk().leaf()).isEqualTo(rotated.leaf());
            assertThat(ca.issued()).isEqualTo(i);
            assertThat(published).hasSize(i + 1);
            assertThat(status().phase()).isEqualTo(Phase.READY);
            assertThat(status().reason()).startsWith(ID + " valid until " + rotated.notAfter());
        }
        // What the identity holds, as facts; each rotation and each CA request counted.
        WorkloadIdentity last = current();
        assertThat(status().facts()).containsEntry("spiffe_id", ID).containsEntry("serial", last.serialHex())
                .containsEntry("not_before", last.notBefore().toString())
                .containsEntry("not_after", last.notAfter().toString()).containsEntry("failures", "0")
                .containsKey("next_rotation").doesNotContainKey("retry_at");
        assertThat(Instant.parse(status().fact("next_rotation").orElseThrow())).isAfter(clock.instant())
                .isBefore(last.notAfter());
        assertThat(MetricValues.of(agent.metrics(), "certificate_rotations_total")).isEqualTo(3);
        assertThat(MetricValues.of(assembly.metrics(),
                "ca_request_duration_seconds_count{outcome=\"ok\",protocol=\"create_certificate\"}")).isEqualTo(3);
        // The client certificate of each renewal is the one current by then.
        assertThat(ca.clientSerials()).containsExactly(published.get(0).serial(), published.get(1).serial(),
                published.get(2).serial());
    }

    @Test
    void backsOffWhileTheCaIsDownDegradedThenRecovers() throws Exception {
        settings.put("SECRET_GRACE_PERIOD_RATIO_JITTER", "0");
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity provisioned = current();
        ca.stop();
        loops.advance(Duration.between(clock.instant(), provisioned.notBefore().plus(LIFETIME.dividedBy(2))));
        assertThat(status().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(status().reason()).startsWith("renewal failed 1 time, retrying at ")
                .contains("UNAVAILABLE").endsWith("the certificate is valid until " + provisioned.notAfter());

        // Waits doubling from one second, each up to 20 % shorter: five more attempts within 45 s (at most
        // 1+2+4+8+16 s), not a sixth (at least 0.8 * 63 s).
        loops.advance(Duration.ofSeconds(45));
        assertThat(status().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(status().reason()).startsWith("renewal failed 6 times, retrying at ");
        assertThat(status().facts()).containsEntry("failures", "6").containsKey("retry_at")
                .containsEntry("serial", provisioned.serialHex());
        assertThat(MetricValues.of(agent.metrics(), "certificate_rotation_failures_total{reason=\"ca\"}"))
                .isEqualTo(6);
        assertThat(MetricValues.of(assembly.metrics(),
                "ca_request_duration_seconds_count{outcome=\"error\",protocol=\"create_certificate\"}")).isEqualTo(6);
        assertThat(current()).isSameAs(provisioned);
        assertThat(ca.issued()).isZero();

        ca.restart();
        loops.advance(Duration.ofMinutes(2));
        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(onDisk().leaf()).isEqualTo(current().leaf());
        assertThat(status().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void failsWhenTheCertificateExpiresWithoutRenewal() throws Exception {
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity provisioned = current();
        ca.fault(TestCa.Fault.UNAVAILABLE);
        loops.advance(Duration.between(clock.instant(), provisioned.notAfter().minusSeconds(1)));
        assertThat(status().phase()).isEqualTo(Phase.DEGRADED);
        loops.advance(Duration.ofSeconds(1));
        assertThat(status().phase()).isEqualTo(Phase.FAILED);
        assertThat(status().reason()).startsWith("the certificate expired at " + provisioned.notAfter());
    }

    @Test
    void adoptsAValidIdentityPlacedByHandAndIgnoresAnInvalidOne() throws Exception {
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity initial = current();

        // Invalid first (another namespace), then valid: only the valid one may ever be published.
        ca.writeIdentity(certs, TestCa.identity("elsewhere", "default"), LIFETIME);
        Await.until("the loop read the changed files", Duration.ofSeconds(10), () -> loops.runDue() > 0);
        assertThat(current()).isSameAs(initial);
        KeyPair keys = TestPki.ecKeys();
        Instant now = clock.instant();
        X509Certificate placed = ca.pki().issue(keys.getPublic(), List.of(ID), List.of(), now,
                now.plus(Duration.ofHours(2)));
        TestPki.writeFiles(certs, Pem.encodePrivateKey(keys.getPrivate(), true), List.of(placed), List.of(ca.root()));
        Await.until("the placed identity is adopted", Duration.ofSeconds(10), () -> {
            loops.runDue();
            return current().leaf().equals(placed);
        });

        assertThat(published).extracting(WorkloadIdentity::leaf).containsExactly(initial.leaf(), placed);
        assertThat(Files.isSymbolicLink(certs.resolve("key.pem"))).as("adopted as placed, not rewritten").isFalse();
        assertThat(ca.issued()).isZero();
        assertThat(status().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void enrolsWithTheTokenWhenThereIsNoIdentity() throws Exception {
        Path token = IdentityAreas.beforeEnrolment(certs, ca.root(), tmp.resolve("istio-token"), "s3cret");
        settings.put("VM_AGENT_CA_TOKEN_FILE", token.toString());
        ca.acceptToken("s3cret", ID);

        begin();
        assertThat(status().phase()).isEqualTo(Phase.STARTING);
        assertThat(status().reason()).isEqualTo("enrolling with the token in " + token);
        loops.runDue();
        assertThat(current().spiffeId().uri()).isEqualTo(ID);
        assertThat(onDisk().leaf()).isEqualTo(current().leaf());
        assertThat(status().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void failsUntilTheFirstEnrolmentSucceeds() throws Exception {
        Path token = IdentityAreas.beforeEnrolment(certs, ca.root(), tmp.resolve("istio-token"), "wrong");
        settings.put("VM_AGENT_CA_TOKEN_FILE", token.toString());
        ca.acceptToken("s3cret", ID);

        start();
        assertThat(status().phase()).isEqualTo(Phase.FAILED);
        assertThat(status().reason()).startsWith("no workload identity yet; renewal failed 1 time")
                .contains("UNAUTHENTICATED");
        Files.writeString(token, "s3cret\n");
        loops.advance(Duration.ofSeconds(1));
        assertThat(status().phase()).isEqualTo(Phase.READY);
    }

    // Issue 11, point 11: with the guide's settings (no VM_AGENT_CA_PROTOCOL) the component rotates against
    // whichever CA the mesh has, an Istio 1.4 Citadel (HandleCSR only) or an istiod (CreateCertificate only), and
    // its state says which protocol issued; with neither reachable it backs off and says why.

    /** Starts with the provisioned identity, then steps through its rotation time (half its lifetime). */
    private WorkloadIdentity startAndRotate() throws Exception {
        settings.put("SECRET_GRACE_PERIOD_RATIO_JITTER", "0");
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity provisioned = current();
        assertThat(status().reason()).as("no CA contacted yet").doesNotContain("; CA ");
        loops.advance(Duration.between(clock.instant(), provisioned.notBefore().plus(LIFETIME.dividedBy(2))));
        return provisioned;
    }

    @Test
    void withTheDefaultSettingsACitadelOnlyMeshRotatesThroughHandleCsr() throws Exception {
        ca.serveOnly(TestCa.Service.HANDLE_CSR);
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(status().phase()).isEqualTo(Phase.READY);
        assertThat(status().reason()).endsWith("; CA IstioCAService/HandleCSR at " + ca.address());
        assertThat(area().files().caChosen()).map(CaEndpoint::protocol).contains(CaEndpoint.Protocol.HANDLE_CSR);
    }

    @Test
    void withTheDefaultSettingsAnUnreachableIstiodFallsBackToCitadel() throws Exception {
        ca.serveOnly(TestCa.Service.HANDLE_CSR);
        settings.put("CA_ADDR", "127.0.0.1:" + TestCa.closedPort());
        settings.put("CITADEL_ADDRESS", ca.address());
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(status().reason()).endsWith("; CA IstioCAService/HandleCSR at " + ca.address());
    }

    @Test
    void withTheDefaultSettingsAnIstiodOnlyMeshRotatesThroughCreateCertificate() throws Exception {
        ca.serveOnly(TestCa.Service.CREATE_CERTIFICATE);
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", "127.0.0.1:" + TestCa.closedPort());
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(status().phase()).isEqualTo(Phase.READY);
        assertThat(status().reason()).endsWith("; CA IstioCertificateService/CreateCertificate at " + ca.address());
        assertThat(ca.calls()).containsExactly("istio.v1.auth.IstioCertificateService/CreateCertificate");
    }

    @Test
    void withNeitherReachableTheRotationFailsNamingBothAndBacksOff() throws Exception {
        int istiod = TestCa.closedPort();
        int citadel = TestCa.closedPort();
        settings.put("CA_ADDR", "127.0.0.1:" + istiod);
        settings.put("CITADEL_ADDRESS", "127.0.0.1:" + citadel);
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current()).isSameAs(provisioned);
        assertThat(status().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(status().reason()).startsWith("renewal failed 1 time, retrying at ")
                .contains("IstioCertificateService/CreateCertificate at 127.0.0.1:" + istiod)
                .contains("then IstioCAService/HandleCSR at 127.0.0.1:" + citadel)
                .doesNotContain("; CA ");
        // Backing off: the next attempt is 0.8 to 1 s away, not at once.
        Duration untilRetry = Duration.between(clock.instant(), loops.nextWake().orElseThrow());
        assertThat(untilRetry).isBetween(Duration.ofMillis(800), Duration.ofSeconds(1));
        loops.advance(untilRetry.minusMillis(1));
        assertThat(status().reason()).startsWith("renewal failed 1 time");
        loops.advance(Duration.ofMillis(1));
        assertThat(status().reason()).startsWith("renewal failed 2 times");
    }

    @Test
    void refusesToPrepareWithoutAnIdentityOrTokenAndSaysWhatToDo() throws Exception {
        Files.createDirectories(certs);
        assertThatThrownBy(() -> component().prepare()).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(certs + ": no identity files (root-cert.pem, cert-chain.pem, key.pem); no valid workload "
                        + "identity and VM_AGENT_CA_TOKEN_FILE is not set: place a valid root-cert.pem, "
                        + "cert-chain.pem and key.pem (from `istioctl x workload entry configure`) in "
                        + "OUTPUT_CERTS/PROV_CERT, or set VM_AGENT_CA_TOKEN_FILE to a bearer token to enrol");
        assertThat(area().state().current()).isEmpty();
    }

    @Test
    void describesThePlan() throws Exception {
        X509Certificate provisioned = ca.writeIdentity(certs, ID, LIFETIME);
        StringWriter out = new StringWriter();
        component().prepare().describe(new PrintWriter(out, true));
        assertThat(out.toString()).contains("#   certificates: " + certs + " (provisioned: " + certs + ")\n")
                .contains("#   identity: " + ID + " serial ")
                .contains("valid " + provisioned.getNotBefore().toInstant() + " to ")
                .contains("#   CA: IstioCertificateService/CreateCertificate at " + ca.address());
        assertThat(published).isEmpty();
    }

    @Test
    void reloadUsesTheNewTtlAndGraceRatioFromTheNextRotation() throws Exception {
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity provisioned = current();

        assertThat(running.reload(component().prepare())).isEqualTo(Reconciled.unchanged());

        settings.put("SECRET_TTL", "2h");
        settings.put("SECRET_GRACE_PERIOD_RATIO", "0.25");
        Reconciled reloaded = running.reload(component().prepare());
        assertThat(reloaded.changed()).isTrue();
        assertThat(reloaded.summary()).isEqualTo("SECRET_TTL 2h, rotation policy (rescheduled) used from the next "
                + "rotation");
        assertThat(reloaded.needsRestart()).isEmpty();

        // Rescheduled: with a quarter of the lifetime left, not half.
        loops.advance(Duration.between(clock.instant(), provisioned.notBefore().plus(Duration.ofMinutes(44))));
        assertThat(current()).isSameAs(provisioned);
        loops.advance(Duration.ofMinutes(2));
        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(current().lifetime()).isEqualTo(Duration.ofHours(2));
    }

    @Test
    void reloadToOtherDirectoriesNeedsARestart() throws Exception {
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        Path elsewhere = tmp.resolve("elsewhere");
        ca.writeIdentity(elsewhere, ID, LIFETIME);
        settings.put("PROV_CERT", elsewhere.toString());
        settings.put("SECRET_TTL", "2h");
        Reconciled reloaded = running.reload(component().prepare());
        assertThat(reloaded.changed()).isFalse();
        assertThat(reloaded.needsRestart()).hasValueSatisfying(what -> assertThat(what)
                .startsWith("OUTPUT_CERTS/PROV_CERT changed ([" + certs + "] -> [" + elsewhere + "])")
                .endsWith("restart the agent to load the identity from there (no identity setting was applied)"));

        // Still the old settings: a one-hour certificate.
        assertThat(rotateThroughTheWindow().lifetime()).isEqualTo(LIFETIME);
    }

    @Test
    void reloadToAnotherExpectedIdentityWithoutATokenNeedsARestartRatherThanRefusingToPrepare() throws Exception {
        ca.writeIdentity(certs, ID, LIFETIME);
        start();
        WorkloadIdentity provisioned = current();
        // The identity on disk is not valid for the new namespace, and there is no token to enrol with.
        settings.put("ISTIO_NAMESPACE", "elsewhere");
        Reconciled reloaded = running.reload(component().prepare());
        assertThat(reloaded.changed()).isFalse();
        assertThat(reloaded.needsRestart()).hasValueSatisfying(what -> assertThat(what)
                .startsWith("the expected identity (TRUST_DOMAIN, ISTIO_NAMESPACE, SERVICE_ACCOUNT) changed"));
        assertThat(current()).isSameAs(provisioned);
        assertThat(status().phase()).isEqualTo(Phase.READY);
    }
}
