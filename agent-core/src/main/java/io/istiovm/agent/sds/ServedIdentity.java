package io.istiovm.agent.sds;

import java.util.Objects;

/**
 * The workload identity SDS hands to Envoy: certificate chain (leaf first), private key and trust anchors, all
 * PEM, plus a version that changes whenever any of them does (a certificate serial or a content digest).
 * {@link #toString()} never shows the key.
 */
public record ServedIdentity(String certificateChainPem, String privateKeyPem, String rootCertificatePem,
                               String version) {
    public ServedIdentity {
        requirePem(certificateChainPem, "certificate chain");
        requirePem(privateKeyPem, "private key");
        requirePem(rootCertificatePem, "root certificate");
        Objects.requireNonNull(version, "version");
        if (version.isBlank()) {
            throw new IllegalArgumentException("identity version must not be blank");
        }
    }

    private static void requirePem(String pem, String what) {
        if (pem == null || !pem.contains("-----BEGIN ")) {
            throw new IllegalArgumentException(what + " is not PEM");
        }
    }

    @Override
    public String toString() {
        return "ServedIdentity[version=" + version + "]";
    }
}
