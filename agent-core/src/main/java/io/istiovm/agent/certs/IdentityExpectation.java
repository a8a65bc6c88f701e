package io.istiovm.agent.certs;

import java.util.Objects;
import java.util.Optional;

/**
 * What the identity must be. The trust domain and namespace always count; the service account only when it is
 * known (configured, or taken from the certificate), because 1.4-era VMs took it from the certificate and never set
 * it. {@link #resolve} fills what the configuration leaves unset from the certificate the VM was given, so the
 * namespace that Envoy announces and the one in the certificate are the same one (istiod's
 * {@code checkConnectionIdentity} refuses an xDS stream whose node namespace differs from the certificate's).
 */
public record IdentityExpectation(String trustDomain, String namespace, Optional<String> serviceAccount) {
    /** Istio's namespace and service account when nothing says otherwise. */
    public static final String DEFAULT_NAMESPACE = "default";
    public static final String DEFAULT_SERVICE_ACCOUNT = "default";

    public IdentityExpectation {
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
    }

    /**
     * The expectation from what was configured ({@code namespace}, {@code serviceAccount}: empty when the operator
     * did not set them) and the SPIFFE id of the certificate on disk, if any. A configured value always wins, so a
     * certificate that disagrees with it is refused by the validator, naming both; an unset one is the
     * certificate's, else Istio's default.
     */
    public static IdentityExpectation resolve(String trustDomain, Optional<String> namespace,
                                              Optional<String> serviceAccount, Optional<SpiffeId> onDisk) {
        return new IdentityExpectation(trustDomain,
                namespace.or(() -> onDisk.map(SpiffeId::namespace)).orElse(DEFAULT_NAMESPACE),
                serviceAccount.or(() -> onDisk.map(SpiffeId::serviceAccount)));
    }

    /**
     * The identity the workload has or asks for: the CSR's SAN at enrolment, and the namespace and service account
     * in Envoy's node (before the certificate exists, the service account is Istio's default).
     */
    public SpiffeId enrolmentId() {
        return new SpiffeId(trustDomain, namespace, serviceAccount.orElse(DEFAULT_SERVICE_ACCOUNT));
    }

    /** The identity to enrol with when no certificate exists yet. */
    public SpiffeId enrolmentId(String defaultServiceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount.orElse(defaultServiceAccount));
    }
}
