package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.IdentityArea;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, point 11: with the guide's settings (no VM_AGENT_CA_PROTOCOL), the identity component rotates against
 * whichever CA the mesh has, an Istio 1.4 Citadel (HandleCSR only) or an istiod (CreateCertificate only), and its
 * state says which protocol issued; with neither reachable it backs off and says why. On stepped loops, with the
 * test CA on the same stepped clock.
 */
class CaProtocolChoiceTest {
    private static final String ID = TestCa.identity("vm", "default");
    private static final Duration LIFETIME = Duration.ofHours(1);

    @TempDir
    Path tmp;
    private final SteppingClock clock = new SteppingClock(Instant.now().truncatedTo(ChronoUnit.SECONDS));
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState agent = new AgentState(clock);
    private final Map<String, String> settings = new LinkedHashMap<>();
    private AgentRuntime runtime;
    private Assembly assembly;
    private TestCa ca;
    private Running running;

    @BeforeEach
    void setUp() throws Exception {
        ca = TestCa.start(clock);
        Path certs = tmp.resolve("certs");
        ca.writeIdentity(certs, ID, LIFETIME);
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_TIMEOUT", "10s");
        settings.put("SECRET_TTL", "1h");
        settings.put("SECRET_GRACE_PERIOD_RATIO_JITTER", "0");
        runtime = IdentityAreas.runtime(tmp, loops);
        assembly = new Assembly(runtime);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (running != null) {
            running.stop();
        }
        runtime.close();
        ca.close();
    }

    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private IdentityArea area() {
        return assembly.identity(TestConfigs.inMemory(tmp.resolve("config"), settings));
    }

    private ComponentState status() {
        return agent.reporter("identity").current();
    }

    private WorkloadIdentity current() {
        return area().state().current().orElseThrow();
    }

    /** Starts with the provisioned identity, then steps through its rotation time (half its lifetime). */
    private WorkloadIdentity startAndRotate() throws Exception {
        Component component = area().components().get(0);
        running = component.prepare().start(ComponentContext.of(component.name(), loops, agent));
        loops.runDue();
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
        settings.put("CA_ADDR", "127.0.0.1:" + closedPort());
        settings.put("CITADEL_ADDRESS", ca.address());
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(status().reason()).endsWith("; CA IstioCAService/HandleCSR at " + ca.address());
    }

    @Test
    void withTheDefaultSettingsAnIstiodOnlyMeshRotatesThroughCreateCertificate() throws Exception {
        ca.serveOnly(TestCa.Service.CREATE_CERTIFICATE);
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", "127.0.0.1:" + closedPort());
        WorkloadIdentity provisioned = startAndRotate();

        assertThat(current().serial()).isNotEqualTo(provisioned.serial());
        assertThat(status().phase()).isEqualTo(Phase.READY);
        assertThat(status().reason()).endsWith("; CA IstioCertificateService/CreateCertificate at " + ca.address());
        assertThat(ca.calls()).containsExactly("istio.v1.auth.IstioCertificateService/CreateCertificate");
    }

    @Test
    void withNeitherReachableTheRotationFailsNamingBothAndBacksOff() throws Exception {
        int istiod = closedPort();
        int citadel = closedPort();
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
}
