package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import io.istiovm.agent.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon component with a real clock and the test CA issuing 4-second certificates. */
class IdentityComponentTest {
    private static final String ID = TestCa.identity("vm", "default");

    @TempDir
    Path tmp;
    private TestCa ca;
    private Path certs;
    private IdentityComponent component;
    private final BlockingQueue<WorkloadIdentity> published = new LinkedBlockingQueue<>();
    private final Map<String, String> settings = new LinkedHashMap<>();

    @BeforeEach
    void setUp() throws Exception {
        ca = TestCa.start(Clock.systemUTC()).ttl(Duration.ofSeconds(4));
        certs = tmp.resolve("certs");
        settings.put("CA_ADDR", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_TIMEOUT", "2s");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (component != null) {
            component.stop();
        }
        ca.close();
    }

    private void start() throws Exception {
        component = new IdentityComponent(TestConfigs.load(tmp.resolve("config"), settings), Clock.systemUTC());
        component.start();
        component.state().subscribe(published::add);
    }

    private WorkloadIdentity next() throws InterruptedException {
        WorkloadIdentity identity = published.poll(20, TimeUnit.SECONDS);
        assertThat(identity).as("an identity was published within 20 s").isNotNull();
        return identity;
    }

    @Test
    void rotatesRepeatedlyAndPublishesEachIdentity() throws Exception {
        X509Certificate provisioned = ca.writeIdentity(certs, ID, Duration.ofSeconds(4));
        start();
        assertThat(component.ready()).isTrue();
        assertThat(next().leaf()).isEqualTo(provisioned);
        WorkloadIdentity previous = null;
        for (int i = 0; i < 3; i++) {
            WorkloadIdentity rotated = next();
            assertThat(rotated.spiffeId().uri()).isEqualTo(ID);
            assertThat(rotated.leaf()).isNotEqualTo(previous == null ? provisioned : previous.leaf());
            previous = rotated;
        }
        assertThat(ca.issued()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void adoptsAValidIdentityPlacedByHandAndIgnoresAnInvalidOne() throws Exception {
        ca.ttl(Duration.ofHours(1));
        ca.writeIdentity(certs, ID, Duration.ofHours(1));
        start();
        WorkloadIdentity initial = next();

        // Invalid first (another namespace), then valid: only the valid one may ever be published.
        ca.writeIdentity(certs, TestCa.identity("elsewhere", "default"), Duration.ofHours(1));
        KeyPair keys = TestPki.ecKeys();
        Instant now = Instant.now();
        X509Certificate placed = ca.pki().issue(keys.getPublic(), List.of(ID), List.of(), now, now.plus(Duration.ofHours(2)));
        TestPki.writeFiles(certs, Pem.encodePrivateKey(keys.getPrivate(), true), List.of(placed), List.of(ca.root()));

        WorkloadIdentity adopted = next();
        assertThat(adopted.leaf()).isEqualTo(placed);
        assertThat(adopted.leaf()).isNotEqualTo(initial.leaf());
        assertThat(published).isEmpty();
        assertThat(Files.isSymbolicLink(certs.resolve("key.pem"))).isFalse();
    }

    @Test
    void refusesToStartWithoutAnIdentityOrTokenAndSaysWhatToDo() throws Exception {
        Files.createDirectories(certs);
        component = new IdentityComponent(TestConfigs.load(tmp.resolve("config"), settings), Clock.systemUTC());
        assertThatThrownBy(component::start).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(certs + ": no identity files (root-cert.pem, cert-chain.pem, key.pem); no valid workload identity and "
                        + "VM_AGENT_CA_TOKEN_FILE is not set: place a valid root-cert.pem, cert-chain.pem and key.pem "
                        + "(from `istioctl x workload entry configure`) in OUTPUT_CERTS/PROV_CERT, or set "
                        + "VM_AGENT_CA_TOKEN_FILE to a bearer token to enrol");
        component = null;
    }
}
