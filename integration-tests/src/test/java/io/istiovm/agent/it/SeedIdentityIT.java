package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.OpensslIdentity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's identity with the packaged jar: the {@code vm} namespace's certificates (spiffe://cluster.local/ns/vm/
 * sa/default, from an openssl-made root) and the guide's three-key cluster.env; the namespace comes from the
 * certificate in every command, and only an explicit conflicting ISTIO_NAMESPACE is refused (65).
 */
class SeedIdentityIT {
    @TempDir
    Path dir;

    @Test
    void theGuidesFlowIsAcceptedAndAConflictingNamespaceRefused() throws Exception {
        Path certs = dir.resolve("certs");
        Path config = Files.createDirectories(dir.resolve("config"));
        OpensslIdentity.write(dir.resolve("openssl"), certs, "spiffe://cluster.local/ns/vm/sa/default");
        String env = "ISTIO_CP_AUTH=MUTUAL_TLS\nISTIO_SERVICE_CIDR=10.96.0.0/12\nISTIO_INBOUND_PORTS=8080\n"
                + "PROV_CERT=" + certs + "\nOUTPUT_CERTS=" + certs + "\nVM_AGENT_ENVOY_BINARY=/bin/sh\n"
                + "ISTIO_SVC_IP=10.0.0.5\nPOD_NAME=vm1\n";
        Files.writeString(config.resolve("cluster.env"), env);

        AgentProcess.Result show = AgentProcess.run(Map.of(), "certs", "show", "--config-dir", config.toString());
        assertThat(show.exitCode()).as(show.toString()).isZero();
        assertThat(show.out()).contains("spiffe://cluster.local/ns/vm/sa/default");
        AgentProcess.Result bootstrap = AgentProcess.run(Map.of(), "envoy", "bootstrap", "--config-dir",
                config.toString());
        assertThat(bootstrap.exitCode()).as(bootstrap.toString()).isZero();
        assertThat(bootstrap.out()).contains("\"id\": \"sidecar~10.0.0.5~vm1.vm~vm.svc.cluster.local\"");
        AgentProcess.Result dryRun = AgentProcess.run(Map.of(), "run", "--dry-run", "--config-dir",
                config.toString());
        assertThat(dryRun.exitCode()).as(dryRun.toString()).isZero();

        Files.writeString(config.resolve("cluster.env"), env + "ISTIO_NAMESPACE=default\n");
        AgentProcess.Result refused = AgentProcess.run(Map.of(), "run", "--dry-run", "--config-dir",
                config.toString());
        assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(65);
        assertThat(refused.err()).contains("namespace 'vm' is not ISTIO_NAMESPACE 'default'");
    }
}
