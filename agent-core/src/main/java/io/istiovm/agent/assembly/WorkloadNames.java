package io.istiovm.agent.assembly;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.IssuedIdentity;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The workload's namespace and service account, one answer for every area: the identity validates the certificate
 * against it, the CSR asks for it, Envoy's node id and metadata announce it. What the configuration sets wins;
 * what it leaves unset comes from the certificate on disk (OUTPUT_CERTS, then PROV_CERT), then Istio's default.
 */
final class WorkloadNames {
    private WorkloadNames() {
    }

    static IdentityExpectation expectation(AgentConfig config) {
        Path output = config.get(ConfigKeys.OUTPUT_CERTS);
        Path provisioned = config.get(ConfigKeys.PROV_CERT);
        List<Path> directories = output.equals(provisioned) ? List.of(output) : List.of(output, provisioned);
        // Unset, these keys have no value (their defaults are the certificate's, resolved here).
        Optional<String> namespace = config.find(ConfigKeys.ISTIO_NAMESPACE)
                .or(() -> config.find(ConfigKeys.POD_NAMESPACE));
        return IdentityExpectation.resolve(config.get(ConfigKeys.TRUST_DOMAIN), namespace,
                config.find(ConfigKeys.SERVICE_ACCOUNT), IssuedIdentity.find(directories));
    }
}
