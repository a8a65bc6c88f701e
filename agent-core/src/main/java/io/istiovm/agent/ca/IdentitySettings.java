package io.istiovm.agent.ca;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.KeySpec;
import io.istiovm.agent.config.UserRef;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the workload identity reads from the configuration, built once by the assembly: where the identity
 * lives (OUTPUT_CERTS, which holds the rotated identity, then PROV_CERT, the provisioned one), what it must be,
 * when it is rotated, which CA signs it and how, and who owns the files.
 *
 * @param outputCerts        OUTPUT_CERTS: read first, and where every renewal is written
 * @param provisionedCerts   PROV_CERT: the identity placed at provisioning, read when OUTPUT_CERTS has none
 * @param expectation        TRUST_DOMAIN, ISTIO_NAMESPACE and (when configured) SERVICE_ACCOUNT
 * @param rotation           SECRET_GRACE_PERIOD_RATIO(_JITTER), VM_AGENT_CERT_MIN_REMAINING, VM_AGENT_CA_BACKOFF_MAX
 * @param ca                 VM_AGENT_CA_PROTOCOL's endpoints: CA_ADDR (ISTIOD_SAN) and/or CITADEL_ADDRESS, with the
 *                           ClusterID and VM_AGENT_CA_TIMEOUT
 * @param keySpec            ECC_SIGNATURE_ALGORITHM, WORKLOAD_RSA_KEY_SIZE
 * @param pkcs8Key           PKCS8_KEY: the form key.pem is written in
 * @param secretTtl          SECRET_TTL: the lifetime asked of the CA
 * @param certsOwner         VM_AGENT_CERTS_OWNER: owner of the written files (resolved against /etc/passwd by the assembly)
 * @param tokenFile          VM_AGENT_CA_TOKEN_FILE: the bearer token to enrol with when there is no valid identity
 */
public record IdentitySettings(Path outputCerts, Path provisionedCerts, IdentityExpectation expectation,
                               RotationPolicy rotation, CaEndpoints ca, KeySpec keySpec, boolean pkcs8Key,
                               Duration secretTtl, UserRef certsOwner, Optional<Path> tokenFile) {

    public IdentitySettings {
        Objects.requireNonNull(outputCerts, "outputCerts");
        Objects.requireNonNull(provisionedCerts, "provisionedCerts");
        Objects.requireNonNull(expectation, "expectation");
        Objects.requireNonNull(rotation, "rotation");
        Objects.requireNonNull(ca, "ca");
        Objects.requireNonNull(keySpec, "keySpec");
        Objects.requireNonNull(secretTtl, "secretTtl");
        Objects.requireNonNull(certsOwner, "certsOwner");
        Objects.requireNonNull(tokenFile, "tokenFile");
        if (secretTtl.isNegative() || secretTtl.isZero()) {
            throw new IllegalArgumentException("SECRET_TTL must be positive");
        }
    }

    /** The directories the identity is read from, in order, without repeats. */
    public List<Path> directories() {
        return outputCerts.equals(provisionedCerts) ? List.of(outputCerts) : List.of(outputCerts, provisionedCerts);
    }
}
