package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.lifecycle.ThreadLoops;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Renewal against the test CA over mTLS on loopback: both protocols, enrolment, and every fault. */
class RenewalTest {
    private static final String ID = TestCa.identity("vm", "web");

    @TempDir
    Path tmp;
    private TestCa ca;
    private Path certs;
    private final Map<String, String> settings = new LinkedHashMap<>();

    @BeforeEach
    void startCa() throws Exception {
        ca = TestCa.start(Clock.systemUTC());
        certs = tmp.resolve("certs");
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("SERVICE_ACCOUNT", "web");
        settings.put("ISTIO_META_CLUSTER_ID", "cluster-7");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_TIMEOUT", "2s");
    }

    @AfterEach
    void stopCa() throws Exception {
        ca.close();
    }

    private IdentityFiles files() throws Exception {
        Clock clock = Clock.systemUTC();
        return new Assembly(IdentityAreas.runtime(tmp, new ThreadLoops(clock)))
                .identity(TestConfigs.inMemory(tmp.resolve("config"), settings)).files();
    }

    private WorkloadIdentity provision() throws Exception {
        ca.writeIdentity(certs, ID, Duration.ofHours(1));
        return files().load();
    }

    @ParameterizedTest
    @ValueSource(strings = {"CreateCertificate", "HandleCSR"})
    void renewsOverMutualTlsWithEitherProtocol(String protocol) throws Exception {
        settings.put("VM_AGENT_CA_PROTOCOL", protocol);
        WorkloadIdentity first = provision();
        IdentityFiles files = files();

        WorkloadIdentity second = files.renew(Optional.of(first));
        assertThat(second.spiffeId().uri()).isEqualTo(ID);
        assertThat(second.serial()).isNotEqualTo(first.serial());
        assertThat(files.load().leaf()).isEqualTo(second.leaf());
        // root's key, readable by VM_AGENT_CERTS_OWNER's group only (CertsDirectory: Envoy's user trusts nothing).
        assertThat(Files.getAttribute(files.output().key(), "unix:uid")).isEqualTo(0);
        assertThat(Files.getAttribute(files.output().key(), "unix:gid")).isEqualTo(4242);

        // The next connection presents the certificate that is current by then.
        files.renew(Optional.of(second));
        assertThat(ca.clientSerials()).containsExactly(first.serial(), second.serial());
        assertThat(ca.clusterIds()).containsExactly("cluster-7", "cluster-7");
    }

    @Test
    void newKeysFollowTheConfiguredAlgorithmAndForm() throws Exception {
        settings.put("ECC_SIGNATURE_ALGORITHM", "RSA");
        settings.put("WORKLOAD_RSA_KEY_SIZE", "3072");
        WorkloadIdentity renewed = files().renew(Optional.of(provision()));
        assertThat(renewed.key().getAlgorithm()).isEqualTo("RSA");
        assertThat(((java.security.interfaces.RSAKey) renewed.key()).getModulus().bitLength()).isEqualTo(3072);
        assertThat(Files.readString(files().output().key())).startsWith("-----BEGIN RSA PRIVATE KEY-----");
    }

    private void assertRefusedAndKept(TestCa.Fault fault, String message) throws Exception {
        WorkloadIdentity current = provision();
        ca.fault(fault);
        IdentityFiles files = files();
        assertThatThrownBy(() -> files.renew(Optional.of(current))).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(message);
        assertThat(files.load().leaf()).isEqualTo(current.leaf());
    }

    @Test
    void answerForAnotherIdentityIsRefusedAndTheCurrentOneKept() throws Exception {
        assertRefusedAndKept(TestCa.Fault.OTHER_IDENTITY, "identity spiffe://cluster.local/ns/intruder/sa/intruder: "
                + "namespace 'intruder' is not ISTIO_NAMESPACE 'vm'");
    }

    @Test
    void chainThatDoesNotVerifyIsRefusedAndTheCurrentOneKept() throws Exception {
        assertRefusedAndKept(TestCa.Fault.WRONG_CHAIN, "the chain does not lead to a certificate in root-cert.pem");
    }

    @Test
    void chainEndingInAnExpiredRootIsRefusedAndTheCurrentOneKept() throws Exception {
        assertRefusedAndKept(TestCa.Fault.EXPIRED_ROOT, "(O=istio-vm-agent tests,CN=Test mesh root) expired at");
    }

    @Test
    void unavailableSlowAndStoppedCaAreReportedAsCaFailures() throws Exception {
        WorkloadIdentity current = provision();
        IdentityFiles files = files();
        ca.fault(TestCa.Fault.UNAVAILABLE);
        assertThatThrownBy(() -> files.renew(Optional.of(current))).isInstanceOf(CaException.class)
                .hasMessageContaining("UNAVAILABLE: test CA: fault UNAVAILABLE");
        ca.fault(TestCa.Fault.SLOW).slowDelay(Duration.ofSeconds(10));
        assertThatThrownBy(() -> files.renew(Optional.of(current))).isInstanceOf(CaException.class)
                .hasMessageContaining("DEADLINE_EXCEEDED");
        ca.fault(TestCa.Fault.NONE);
        ca.stop();
        assertThatThrownBy(() -> files.renew(Optional.of(current))).isInstanceOf(CaException.class)
                .hasMessageContaining("UNAVAILABLE");
        ca.restart();
        assertThat(files.renew(Optional.of(current)).spiffeId().uri()).isEqualTo(ID);
    }

    @Test
    void caWhoseCertificateDoesNotCarryTheExpectedNameIsRefused() throws Exception {
        settings.put("ISTIOD_SAN", "istiod.elsewhere.svc");
        settings.put("VM_AGENT_CA_PROTOCOL", "CreateCertificate");
        WorkloadIdentity current = provision();
        assertThatThrownBy(() -> files().renew(Optional.of(current))).isInstanceOf(CaException.class)
                .hasMessageContaining("UNAVAILABLE");
        assertThat(ca.issued()).isZero();
    }

    @Test
    void enrolsWithTheBearerTokenWhenThereIsNoCertificate() throws Exception {
        Path token = IdentityAreas.beforeEnrolment(certs, ca.root(), tmp.resolve("istio-token"), "s3cret");
        settings.put("VM_AGENT_CA_TOKEN_FILE", token.toString());
        ca.acceptToken("s3cret", ID);

        IdentityFiles files = files();
        assertThatThrownBy(files::load).isInstanceOf(InvalidIdentityException.class);
        WorkloadIdentity enrolled = files.renew(Optional.empty());
        assertThat(enrolled.spiffeId().uri()).isEqualTo(ID);
        assertThat(files.load().leaf()).isEqualTo(enrolled.leaf());
        assertThat(ca.clientSerials()).isEmpty();
    }

    @Test
    void withoutATokenTheOperatorIsToldWhatToDo() throws Exception {
        Files.createDirectories(certs);
        Files.writeString(certs.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(ca.root())));
        assertThatThrownBy(() -> files().renew(Optional.empty())).isInstanceOf(CaException.class)
                .hasMessage("there is no valid certificate in " + certs + ", and VM_AGENT_CA_TOKEN_FILE is not set: "
                        + "copy a fresh root-cert.pem, cert-chain.pem and key.pem (e.g. from `istioctl x workload "
                        + "entry configure`) into " + certs + ", or set VM_AGENT_CA_TOKEN_FILE to a bearer token "
                        + "(istio-token) so the agent can enrol by itself");
    }

    @Test
    void aTokenFileThatIsAFifoOrALinkIsRefusedWithoutBlocking() throws Exception {
        Path token = IdentityAreas.beforeEnrolment(certs, ca.root(), tmp.resolve("istio-token"), "s3cret");
        ca.acceptToken("s3cret", ID);
        Files.delete(token);
        assertThat(new ProcessBuilder("mkfifo", token.toString()).start().waitFor()).isZero();
        settings.put("VM_AGENT_CA_TOKEN_FILE", token.toString());
        assertThatThrownBy(() -> files().renew(Optional.empty()))
                .hasMessage(token + ": is not a regular file (a FIFO); refusing to read it");

        Path victim = Files.writeString(tmp.resolve("victim"), "s3cret");
        Files.delete(token);
        Files.createSymbolicLink(token, victim);
        assertThatThrownBy(() -> files().renew(Optional.empty()))
                .hasMessage(token + ": is a symbolic link; refusing to follow it");
        assertThat(ca.issued()).isZero();
    }
}
