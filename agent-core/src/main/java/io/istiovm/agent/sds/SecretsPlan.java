package io.istiovm.agent.sds;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import java.nio.charset.StandardCharsets;

/**
 * The Envoy {@link Secret} each SDS resource name stands for, in the shapes pilot-agent sends (Istio 1.31-dev
 * {@code security/pkg/nodeagent/sds/sdsservice.go} {@code toEnvoySecret}): trust anchors as a validation context
 * with inline {@code trusted_ca}, a certificate as a {@code tls_certificate} with inline chain and key.
 */
final class SecretsPlan {
    /** The workload certificate and key, as Istio names it. */
    static final String WORKLOAD = "default";
    /** The trust anchors (a validation context), as Istio names it. */
    static final String ROOT = "ROOTCA";
    static final String TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    private SecretsPlan() {
    }

    /**
     * The secret an identity-backed name stands for: {@code ROOTCA} the trust anchors; any other name (normally
     * {@code default}) the workload certificate and key under that name, as pilot-agent's secret cache answers a
     * name that is neither ROOTCA nor a file.
     */
    static Secret fromIdentity(String name, ServedIdentity identity) {
        if (name.equals(ROOT)) {
            return trust(ROOT, identity.rootCertificatePem().getBytes(StandardCharsets.UTF_8));
        }
        return certificate(name, identity.certificateChainPem().getBytes(StandardCharsets.UTF_8),
                identity.privateKeyPem().getBytes(StandardCharsets.UTF_8));
    }

    static Secret trust(String name, byte[] bundlePem) {
        return Secret.newBuilder().setName(name)
                .setValidationContext(CertificateValidationContext.newBuilder().setTrustedCa(inline(bundlePem)))
                .build();
    }

    static Secret certificate(String name, byte[] chainPem, byte[] keyPem) {
        return Secret.newBuilder().setName(name)
                .setTlsCertificate(TlsCertificate.newBuilder()
                        .setCertificateChain(inline(chainPem))
                        .setPrivateKey(inline(keyPem)))
                .build();
    }

    private static DataSource inline(byte[] pem) {
        return DataSource.newBuilder().setInlineBytes(ByteString.copyFrom(pem)).build();
    }
}
