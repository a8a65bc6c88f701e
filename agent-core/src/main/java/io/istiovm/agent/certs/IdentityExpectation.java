package io.istiovm.agent.certs;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.Source;
import java.util.Optional;

/**
 * What the configuration says the identity must be. The trust domain and namespace always count; the service
 * account only when it was configured, because 1.4-era VMs took it from the certificate and never set it.
 */
public record IdentityExpectation(String trustDomain, String namespace, Optional<String> serviceAccount) {

    public static IdentityExpectation fromConfig(AgentConfig config) {
        Optional<String> serviceAccount = config.source(ConfigKeys.SERVICE_ACCOUNT) instanceof Source.Default
                ? Optional.empty() : Optional.of(config.get(ConfigKeys.SERVICE_ACCOUNT));
        return new IdentityExpectation(config.get(ConfigKeys.TRUST_DOMAIN), config.get(ConfigKeys.ISTIO_NAMESPACE),
                serviceAccount);
    }

    /** The identity to enrol with when no certificate exists yet. */
    public SpiffeId enrolmentId(String defaultServiceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount.orElse(defaultServiceAccount));
    }
}
