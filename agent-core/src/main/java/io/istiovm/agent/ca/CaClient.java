package io.istiovm.agent.ca;

import com.google.protobuf.ByteString;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.istiovm.agent.ca.proto.CsrRequest;
import io.istiovm.agent.ca.proto.CsrResponse;
import io.istiovm.agent.ca.proto.IstioCAServiceGrpc;
import io.istiovm.agent.ca.proto.IstioCertificateRequest;
import io.istiovm.agent.ca.proto.IstioCertificateResponse;
import io.istiovm.agent.ca.proto.IstioCertificateServiceGrpc;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * Sends one CSR to the CA and returns the PEM chain it answers (leaf first). Each call opens its own channel
 * with the credentials current at that moment, so a rotated certificate is used from the next connection on,
 * and the CA's certificate is verified against the given roots and {@link CaEndpoint#serverName()}.
 */
public final class CaClient {
    static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of("ClusterID", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String CREDENTIAL_TYPE_ONPREM = "onprem";

    private final CaEndpoint endpoint;

    public CaClient(CaEndpoint endpoint) {
        this.endpoint = endpoint;
    }

    public CaEndpoint endpoint() {
        return endpoint;
    }

    /**
     * How the agent proves who it is: its current certificate (mTLS), or, to enrol, a bearer token. The roots
     * verify the CA either way.
     */
    public record Credentials(Optional<WorkloadIdentity> client, Optional<String> bearerToken,
                              List<X509Certificate> roots) {
        public Credentials {
            if (client.isEmpty() && bearerToken.isEmpty()) {
                throw new IllegalArgumentException("a CA request needs a client certificate or a token");
            }
            roots = List.copyOf(roots);
        }

        @Override
        public String toString() {
            return client.map(c -> "certificate " + c.spiffeId()).orElse("bearer token");
        }
    }

    public List<String> sign(String csrPem, Duration ttl, Credentials credentials) throws CaException {
        ManagedChannel channel = NettyChannelBuilder
                .forAddress(endpoint.address().host(), endpoint.address().port())
                .sslContext(sslContext(credentials))
                .overrideAuthority(endpoint.serverName())
                .build();
        try {
            Metadata headers = new Metadata();
            headers.put(CLUSTER_ID, endpoint.clusterId());
            credentials.bearerToken().ifPresent(token -> headers.put(AUTHORIZATION, "Bearer " + token));
            io.grpc.Channel intercepted = ClientInterceptors.intercept(channel,
                    MetadataUtils.newAttachHeadersInterceptor(headers));
            return switch (endpoint.protocol()) {
                case CREATE_CERTIFICATE -> createCertificate(intercepted, csrPem, ttl);
                case HANDLE_CSR -> handleCsr(intercepted, csrPem, ttl, credentials);
            };
        } catch (StatusRuntimeException e) {
            Status status = e.getStatus();
            throw new CaException(endpoint + ": " + status.getCode()
                    + (status.getDescription() == null ? "" : ": " + status.getDescription())
                    + (status.getCause() == null ? "" : " (" + status.getCause().getMessage() + ")"), e);
        } finally {
            channel.shutdownNow();
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private List<String> createCertificate(io.grpc.Channel channel, String csrPem, Duration ttl) throws CaException {
        IstioCertificateResponse response = IstioCertificateServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(endpoint.timeout().toMillis(), TimeUnit.MILLISECONDS)
                .createCertificate(IstioCertificateRequest.newBuilder()
                        .setCsr(csrPem)
                        .setValidityDuration(ttl.toSeconds())
                        .build());
        if (response.getCertChainCount() == 0) {
            throw new CaException(endpoint + ": the answer holds no certificate");
        }
        return List.copyOf(response.getCertChainList());
    }

    private List<String> handleCsr(io.grpc.Channel channel, String csrPem, Duration ttl, Credentials credentials)
            throws CaException {
        CsrRequest.Builder request = CsrRequest.newBuilder()
                .setCsrPem(ByteString.copyFrom(csrPem, StandardCharsets.US_ASCII))
                .setCredentialType(CREDENTIAL_TYPE_ONPREM)
                .setRequestedTtlMinutes((int) Math.min(Integer.MAX_VALUE, Math.max(1, ttl.toMinutes())));
        credentials.client().ifPresent(identity -> request.setNodeAgentCredential(
                ByteString.copyFrom(Pem.encodeCertificates(identity.chain()), StandardCharsets.US_ASCII)));
        CsrResponse response = IstioCAServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(endpoint.timeout().toMillis(), TimeUnit.MILLISECONDS)
                .handleCSR(request.build());
        if (!response.getIsApproved()) {
            throw new CaException(endpoint + ": the CSR was not approved: "
                    + (response.hasStatus() ? response.getStatus().getMessage() : "no reason given"));
        }
        List<String> chain = new ArrayList<>();
        chain.add(response.getSignedCert().toString(StandardCharsets.US_ASCII));
        if (!response.getCertChain().isEmpty()) {
            chain.add(response.getCertChain().toString(StandardCharsets.US_ASCII));
        }
        return chain;
    }

    private static SslContext sslContext(Credentials credentials) throws CaException {
        try {
            SslContextBuilder builder = GrpcSslContexts.forClient()
                    .trustManager(credentials.roots().toArray(X509Certificate[]::new));
            if (credentials.client().isPresent()) {
                WorkloadIdentity identity = credentials.client().get();
                builder.keyManager(identity.key(), identity.chain().toArray(X509Certificate[]::new));
            }
            return builder.build();
        } catch (SSLException e) {
            throw new CaException("cannot set up TLS to the CA: " + e.getMessage(), e);
        }
    }
}
