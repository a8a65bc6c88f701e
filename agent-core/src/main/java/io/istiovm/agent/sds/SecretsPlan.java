package io.istiovm.agent.sds;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** Which Envoy {@link Secret} each SDS resource name stands for, built from a {@link ServedIdentity}. */
final class SecretsPlan {
    /** The workload certificate and key, as Istio names it. */
    static final String WORKLOAD = "default";
    /** The trust anchors (a validation context), as Istio names it. */
    static final String ROOT = "ROOTCA";
    static final String TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    static final List<String> KNOWN = List.of(WORKLOAD, ROOT);

    private SecretsPlan() {
    }

    static Optional<Secret> secret(String name, ServedIdentity identity) {
        return switch (name) {
            case WORKLOAD -> Optional.of(Secret.newBuilder().setName(WORKLOAD)
                    .setTlsCertificate(TlsCertificate.newBuilder()
                            .setCertificateChain(inline(identity.certificateChainPem()))
                            .setPrivateKey(inline(identity.privateKeyPem())))
                    .build());
            case ROOT -> Optional.of(Secret.newBuilder().setName(ROOT)
                    .setValidationContext(CertificateValidationContext.newBuilder()
                            .setTrustedCa(inline(identity.rootCertificatePem())))
                    .build());
            default -> Optional.empty();
        };
    }

    static List<Any> resources(List<String> names, ServedIdentity identity) {
        return names.stream().map(n -> secret(n, identity)).flatMap(Optional::stream).map(Any::pack).toList();
    }

    private static DataSource inline(String pem) {
        return DataSource.newBuilder().setInlineBytes(ByteString.copyFrom(pem, StandardCharsets.UTF_8)).build();
    }
}
