package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.certs.Csr;
import io.istiovm.agent.certs.KeySpec;
import io.istiovm.agent.certs.SpiffeId;
import io.istiovm.agent.config.HostPort;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestPki;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CA client against the test CA made into one kind of CA at a time (Istio 1.4's Citadel serving only HandleCSR,
 * istiod serving only CreateCertificate) and against closed ports: which endpoint it uses, what it remembers,
 * when it passes one over and when it stops, and how much of an answer it reads. Istio's side follows 1.4's
 * Citadel (IstioCAService at istio-citadel:8060) and 1.5+'s istiod (IstioCertificateService on 15012).
 */
class CaClientTest {
    private static final String ID = TestCa.identity("vm", "default");
    private static final String CREATE = "istio.v1.auth.IstioCertificateService/CreateCertificate";
    private static final String HANDLE = "istio.v1.auth.IstioCAService/HandleCSR";

    private TestCa ca;
    private final CaChoice choice = new CaChoice();

    @BeforeEach
    void startCa() throws Exception {
        ca = TestCa.start(Clock.systemUTC()).acceptToken("t0ken", ID);
    }

    @AfterEach
    void stopCa() {
        ca.close();
    }

    private static CaEndpoint createCertificate(int port) {
        return new CaEndpoint(CaEndpoint.Protocol.CREATE_CERTIFICATE, new HostPort("127.0.0.1", port),
                "istiod.istio-system.svc", Duration.ofSeconds(10), "Kubernetes");
    }

    private static CaEndpoint handleCsr(int port) {
        return new CaEndpoint(CaEndpoint.Protocol.HANDLE_CSR, new HostPort("127.0.0.1", port),
                CaEndpoint.CITADEL_SERVER_NAME, Duration.ofSeconds(10), "Kubernetes");
    }

    private CaClient automatic(int createPort, int handlePort) {
        return new CaClient(CaEndpoints.automatic(createCertificate(createPort), handleCsr(handlePort)), choice);
    }

    private List<String> sign(CaClient client) throws Exception {
        String csr = Csr.build(SpiffeId.parse(ID), TestPki.ecKeys(), KeySpec.ecP256());
        return client.sign(csr, Duration.ofHours(1), new CaClient.Credentials(Optional.empty(), Optional.of("t0ken"),
                List.of(ca.root())));
    }

    @Test
    void aCitadelOnlyCaAtBothAddressesIsUsedThroughHandleCsrAfterOneUnimplementedAndThenDirectly() throws Exception {
        ca.serveOnly(TestCa.Service.HANDLE_CSR);
        CaClient client = automatic(ca.port(), ca.port());
        assertThat(client.chosen()).isEmpty();

        assertThat(sign(client)).isNotEmpty();
        assertThat(ca.calls()).containsExactly(CREATE, HANDLE);
        assertThat(client.chosen()).contains(handleCsr(ca.port()));

        // Remembered: the next renewal goes straight to HandleCSR, even through another client (a reload).
        sign(automatic(ca.port(), ca.port()));
        assertThat(ca.calls()).containsExactly(CREATE, HANDLE, HANDLE);
        assertThat(ca.issued()).isEqualTo(2);
    }

    @Test
    void anUnreachableIstiodFallsBackToCitadel() throws Exception {
        ca.serveOnly(TestCa.Service.HANDLE_CSR);
        CaClient client = automatic(TestCa.closedPort(), ca.port());
        sign(client);
        assertThat(client.chosen()).contains(handleCsr(ca.port()));
        assertThat(client.endpoint()).isEqualTo(handleCsr(ca.port()));
    }

    @Test
    void anIstiodOnlyCaIsUsedThroughCreateCertificateWithoutTryingCitadel() throws Exception {
        ca.serveOnly(TestCa.Service.CREATE_CERTIFICATE);
        CaClient client = automatic(ca.port(), TestCa.closedPort());
        sign(client);
        sign(client);
        assertThat(ca.calls()).containsExactly(CREATE, CREATE);
        assertThat(client.chosen()).contains(createCertificate(ca.port()));
    }

    @Test
    void theChoiceFollowsAnUpgradeFromCitadelToIstiod() throws Exception {
        ca.serveOnly(TestCa.Service.HANDLE_CSR);
        CaClient client = automatic(ca.port(), ca.port());
        sign(client);
        ca.serveOnly(TestCa.Service.CREATE_CERTIFICATE);
        sign(client);
        assertThat(ca.calls()).containsExactly(CREATE, HANDLE, HANDLE, CREATE);
        assertThat(client.chosen()).contains(createCertificate(ca.port()));
    }

    @Test
    void bothUnreachableIsOneFailureNamingBoth() throws Exception {
        int istiod = TestCa.closedPort();
        int citadel = TestCa.closedPort();
        CaClient client = automatic(istiod, citadel);
        assertThatThrownBy(() -> sign(client)).isInstanceOf(CaException.class)
                .hasMessageStartingWith("IstioCertificateService/CreateCertificate at 127.0.0.1:" + istiod
                        + " (server name istiod.istio-system.svc): UNAVAILABLE")
                .hasMessageContaining("; then IstioCAService/HandleCSR at 127.0.0.1:" + citadel
                        + " (server name istio-citadel): UNAVAILABLE");
        assertThat(client.chosen()).isEmpty();
    }

    @Test
    void aRefusalIsTheAnswerAndTheOtherProtocolIsNotTried() throws Exception {
        ca.acceptToken("another", ID);
        CaClient client = automatic(ca.port(), ca.port());
        assertThatThrownBy(() -> sign(client)).isInstanceOf(CaException.class)
                .hasMessageContaining("CreateCertificate").hasMessageContaining("UNAUTHENTICATED")
                .hasMessageNotContaining("HandleCSR");
        assertThat(ca.calls()).containsExactly(CREATE);
        assertThat(client.chosen()).isEmpty();
    }

    @Test
    void aForcedProtocolIsNeverSwitched() throws Exception {
        ca.serveOnly(TestCa.Service.CREATE_CERTIFICATE);
        CaClient client = new CaClient(CaEndpoints.forced(handleCsr(ca.port())), choice);
        assertThatThrownBy(() -> sign(client)).isInstanceOf(CaException.class).hasMessageContaining("UNIMPLEMENTED");
        assertThat(ca.calls()).containsExactly(HANDLE);
    }

    @Test
    void onlyWhatFallsThroughIsPassedOver() {
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.UNAVAILABLE)).isTrue();
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.UNIMPLEMENTED)).isTrue();
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.DEADLINE_EXCEEDED)).isTrue();
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.UNAUTHENTICATED)).isFalse();
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.PERMISSION_DENIED)).isFalse();
        assertThat(CaClient.triesTheNextAfter(io.grpc.Status.Code.RESOURCE_EXHAUSTED)).isFalse();
    }

    @Test
    void anAnswerOverFourMebibytesIsRefusedUnread() throws Exception {
        ca.fault(TestCa.Fault.OVERSIZED_ANSWER);
        CaClient client = automatic(ca.port(), ca.port());
        assertThatThrownBy(() -> sign(client)).isInstanceOf(CaException.class)
                .hasMessageContaining("RESOURCE_EXHAUSTED").hasMessageContaining(String.valueOf(CaClient.MAX_ANSWER_BYTES));
        assertThat(ca.calls()).containsExactly(CREATE);
    }

    @Test
    void oversizedMetadataIsRefused() throws Exception {
        ca.fault(TestCa.Fault.OVERSIZED_METADATA);
        CaClient client = new CaClient(CaEndpoints.forced(createCertificate(ca.port())), choice);
        assertThatThrownBy(() -> sign(client)).isInstanceOf(CaException.class)
                .hasMessageContaining("INTERNAL").hasMessageContaining("Header size exceeded max allowed size")
                .hasMessageNotContaining("fault OVERSIZED_METADATA");
    }
}
