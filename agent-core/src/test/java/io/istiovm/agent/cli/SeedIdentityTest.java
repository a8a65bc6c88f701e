package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.OpensslIdentity;
import io.istiovm.agent.testing.TestCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's flow as the guide has it: the {@code vm} namespace's {@code istio.default} secret (identity
 * spiffe://cluster.local/ns/vm/sa/default, from a root made with openssl) in /etc/certs, and a cluster.env with
 * only the guide's three keys. The namespace and service account come from the certificate, everywhere.
 */
class SeedIdentityTest {
    private static final String GUIDE = "ISTIO_CP_AUTH=MUTUAL_TLS\nISTIO_SERVICE_CIDR=10.96.0.0/12\n"
            + "ISTIO_INBOUND_PORTS=8080\n";

    @TempDir
    Path dir;
    private Path config;
    private Path certs;

    @BeforeEach
    void seedIdentity() throws Exception {
        config = dir.resolve("config");
        certs = dir.resolve("certs");
        Files.createDirectories(config);
        OpensslIdentity.write(dir.resolve("openssl"), certs, "spiffe://cluster.local/ns/vm/sa/default");
    }

    private void clusterEnv(String extra) throws Exception {
        // PROV_CERT/OUTPUT_CERTS stand in for /etc/certs; an executable in Envoy's place for the dry run.
        Files.writeString(config.resolve("cluster.env"), GUIDE + extra + "PROV_CERT=" + certs + "\nOUTPUT_CERTS="
                + certs + "\nVM_AGENT_ENVOY_BINARY=/bin/sh\n");
    }

    @Test
    void certsShowAcceptsTheCertificatesNamespace() throws Exception {
        clusterEnv("");
        CliRun run = CliRun.run("certs", "show", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isZero();
        assertThat(run.out()).contains("spiffe://cluster.local/ns/vm/sa/default");
    }

    @Test
    void envoyBootstrapAnnouncesTheCertificatesNamespaceAndServiceAccount() throws Exception {
        clusterEnv("");
        CliRun run = CliRun.run("envoy", "bootstrap", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isZero();
        assertThat(run.out()).contains("\"id\": \"sidecar~10.0.0.5~vm1.vm~vm.svc.cluster.local\"",
                "\"NAMESPACE\": \"vm\"", "\"SERVICE_ACCOUNT\": \"default\"");
    }

    @Test
    void runDryRunAcceptsIt() throws Exception {
        clusterEnv("");
        CliRun run = CliRun.run("run", "--dry-run", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isZero();
        assertThat(run.out()).contains("sidecar~10.0.0.5~vm1.vm~vm.svc.cluster.local");
    }

    @Test
    void anExplicitConflictingNamespaceIsAClearIdentityError() throws Exception {
        clusterEnv("ISTIO_NAMESPACE=default\n");
        for (String[] command : new String[][] {{"certs", "show"}, {"run", "--dry-run"}}) {
            CliRun run = CliRun.run(command[0], command[1], "--config-dir", config.toString());
            assertThat(run.exitCode()).as(run.toString()).isEqualTo(ExitCodes.DATA);
            assertThat(run.err()).contains(certs.resolve("cert-chain.pem") + ": identity "
                    + "spiffe://cluster.local/ns/vm/sa/default: namespace 'vm' is not ISTIO_NAMESPACE 'default'");
        }
    }

    @Test
    void anExplicitMatchingNamespaceAndServiceAccountAreAccepted() throws Exception {
        clusterEnv("ISTIO_NAMESPACE=vm\nSERVICE_ACCOUNT=default\n");
        CliRun run = CliRun.run("certs", "show", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isZero();
    }

    @Test
    void rotationAsksForTheCertificatesIdentity() throws Exception {
        // The CA must know the client's root, so here the seed's certificate comes from the test CA.
        try (TestCa ca = TestCa.start(Clock.systemUTC())) {
            Path issued = dir.resolve("issued");
            ca.writeIdentity(issued, "spiffe://cluster.local/ns/vm/sa/reviews", Duration.ofHours(24));
            Files.writeString(config.resolve("cluster.env"), GUIDE + "CA_ADDR=" + ca.address() + "\nPROV_CERT="
                    + issued + "\nOUTPUT_CERTS=" + issued + "\nVM_AGENT_CERTS_OWNER=4242\nVM_AGENT_CA_TIMEOUT=5s\n");
            CliRun run = CliRun.run("certs", "rotate", "--config-dir", config.toString());
            assertThat(run.exitCode()).as(run.toString()).isZero();
            assertThat(ca.issued()).isEqualTo(1);
            assertThat(run.out()).contains("spiffe://cluster.local/ns/vm/sa/reviews");
        }
    }

    @Test
    void anExplicitConflictingServiceAccountIsAnError() throws Exception {
        clusterEnv("SERVICE_ACCOUNT=reviews\n");
        CliRun run = CliRun.run("certs", "show", "--config-dir", config.toString());
        assertThat(run.exitCode()).as(run.toString()).isEqualTo(ExitCodes.DATA);
        assertThat(run.err()).contains("service account 'default' is not SERVICE_ACCOUNT 'reviews'");
    }
}
