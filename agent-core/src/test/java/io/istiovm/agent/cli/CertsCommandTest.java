package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.HostFacts;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertsCommandTest {
    private static final String ID = TestCa.identity("vm", "default");

    @TempDir
    Path tmp;
    private TestCa ca;
    private Path certs;
    private Path configDir;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void setUp() throws Exception {
        ca = TestCa.start(Clock.systemUTC());
        certs = tmp.resolve("certs");
        configDir = tmp.resolve("config");
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_TIMEOUT", "2s");
        TestConfigs.load(configDir, settings);
    }

    @AfterEach
    void tearDown() throws Exception {
        ca.close();
    }

    private int run(String... args) throws Exception {
        CliEnvironment env = new CliEnvironment(Map.of(), HostFacts.fixed("vm-1",
                List.of(InetAddress.getByName("10.0.0.7"))), new PrintWriter(out), new PrintWriter(err));
        return Cli.execute(env, args);
    }

    @Test
    void showPrintsTheIdentity() throws Exception {
        X509Certificate leaf = ca.writeIdentity(certs, ID, Duration.ofHours(24));
        assertThat(run("certs", "show", "--config-dir", configDir.toString())).isZero();
        assertThat(out.toString())
                .contains("identity:        " + ID + "\n")
                .contains("not after:       " + leaf.getNotAfter().toInstant() + "\n")
                .contains("chain length:    1\n")
                .contains("next rotation:   between " + leaf.getNotBefore().toInstant().plus(Duration.ofSeconds(43200 - 864))
                        + " and " + leaf.getNotBefore().toInstant().plus(Duration.ofSeconds(43200 + 864)));
    }

    @Test
    void showNamesEveryProblemAndExits65() throws Exception {
        ca.writeIdentity(certs, TestCa.identity("other", "default"), Duration.ofHours(1));
        Files.writeString(certs.resolve("root-cert.pem"), "");
        assertThat(run("certs", "show", "--config-dir", configDir.toString())).isEqualTo(ExitCodes.DATA);
        assertThat(err.toString()).isEqualTo("error: " + certs.resolve("root-cert.pem") + ": the file is empty\n");
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void rotateRotatesNowAndRepeats() throws Exception {
        X509Certificate first = ca.writeIdentity(certs, ID, Duration.ofHours(24));
        assertThat(run("certs", "rotate", "--config-dir", configDir.toString(), "--repeat", "3")).isZero();
        assertThat(ca.issued()).isEqualTo(3);
        assertThat(out.toString()).contains("identity:        " + ID).contains("rotations:       3 in ")
                .doesNotContain(first.getSerialNumber().toString(16));
    }

    @Test
    void rotateWithoutAnIdentityOrTokenExits65AsRunWould() throws Exception {
        Files.createDirectories(certs);
        assertThat(run("certs", "rotate", "--config-dir", configDir.toString())).isEqualTo(ExitCodes.DATA);
        assertThat(err.toString()).endsWith("error: no valid workload identity and VM_AGENT_CA_TOKEN_FILE is not set: "
                + "place a valid root-cert.pem, cert-chain.pem and key.pem (from `istioctl x workload entry "
                + "configure`) in OUTPUT_CERTS/PROV_CERT, or set VM_AGENT_CA_TOKEN_FILE to a bearer token to enrol\n");
        assertThat(ca.issued()).isZero();
    }

    @Test
    void rotateWithTheCaDownExits69AndChangesNothing() throws Exception {
        ca.writeIdentity(certs, ID, Duration.ofHours(24));
        byte[] before = Files.readAllBytes(certs.resolve("cert-chain.pem"));
        ca.stop();
        assertThat(run("certs", "rotate", "--config-dir", configDir.toString())).isEqualTo(ExitCodes.UNAVAILABLE);
        assertThat(err.toString()).startsWith("error: IstioCertificateService/CreateCertificate at "
                + ca.address() + " (server name istiod.istio-system.svc): UNAVAILABLE");
        assertThat(Files.readAllBytes(certs.resolve("cert-chain.pem"))).isEqualTo(before);
    }
}
