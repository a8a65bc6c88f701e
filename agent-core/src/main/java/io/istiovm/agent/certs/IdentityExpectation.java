package io.istiovm.agent.certs;

import java.util.Objects;
import java.util.Optional;

/**
 * What the configuration says the identity must be. The trust domain and namespace always count; the service
 * account only when it was configured, because 1.4-era VMs took it from the certificate and never set it.
 */
public record IdentityExpectation(String trustDomain, String namespace, Optional<String> serviceAccount) {

    public IdentityExpectation {
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
    }

    /** The identity to enrol with when no certificate exists yet. */
    public SpiffeId enrolmentId(String defaultServiceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount.orElse(defaultServiceAccount));
    }
}
