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
import io.istiovm.agent.metrics.AgentMetrics;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * Sends one CSR to the CA and returns the PEM chain it answers (leaf first). Each call opens its own channel
 * with the credentials current at that moment, so a rotated certificate is used from the next connection on,
 * and the CA's certificate is verified against the given roots and {@link CaEndpoint#serverName()}.
 *
 * <p>With several candidate endpoints ({@link CaEndpoints#automatic()}), a call tries the one that last issued a
 * certificate ({@link CaChoice}) first, then the others in order, passing one over only when it is unreachable
 * or does not implement its method ({@link #triesTheNextAfter}); an endpoint that answers with a refusal ends the
 * call, since the next one would be a different CA, not a better answer. Answers are bounded
 * ({@link #MAX_ANSWER_BYTES}, {@link #MAX_METADATA_BYTES}): the CA is reached through the network, possibly
 * through a gateway the mesh does not control, and a CSR answer is a few kilobytes.
 */
public final class CaClient {
    static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of("ClusterID", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** Largest answer accepted: a chain of a dozen 4096-bit RSA certificates is under 30 KiB. */
    public static final int MAX_ANSWER_BYTES = 4 * 1024 * 1024;
    /** Largest header and trailer block accepted (gRPC Java's own default, made explicit). */
    public static final int MAX_METADATA_BYTES = 8 * 1024;
    private static final String CREDENTIAL_TYPE_ONPREM = "onprem";

    private final CaEndpoints endpoints;
    private final CaChoice choice;
    private final AgentMetrics metrics;
    /** Times each request for the duration histogram; the agent's one clock, so a test can step it. */
    private final Clock clock;

    /**
     * A client of {@code endpoints} that remembers in {@code choice} which one issued and times every request
     * (each endpoint tried is one request) into {@code metrics}.
     */
    public CaClient(CaEndpoints endpoints, CaChoice choice, AgentMetrics metrics, Clock clock) {
        this.endpoints = Objects.requireNonNull(endpoints, "endpoints");
        this.choice = Objects.requireNonNull(choice, "choice");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** A client of {@code endpoints} whose requests are counted nowhere (one-shot commands and tests). */
    public CaClient(CaEndpoints endpoints, CaChoice choice) {
        this(endpoints, choice, new AgentMetrics("none"), Clock.systemUTC());
    }

    /** A client of {@code endpoint} only. */
    public CaClient(CaEndpoint endpoint) {
        this(CaEndpoints.forced(endpoint), new CaChoice());
    }

    public CaEndpoints endpoints() {
        return endpoints;
    }

    /** The endpoint the next call tries first: the one that last issued a certificate, else the first candidate. */
    public CaEndpoint endpoint() {
        return chosen().orElse(endpoints.first());
    }

    /** The endpoint that last issued a certificate; empty before the first success. */
    public Optional<CaEndpoint> chosen() {
        return choice.chosen(endpoints);
    }

    /**
     * Whether a call that failed with {@code code} at one endpoint goes on to the next: the endpoint was not
     * reached (UNAVAILABLE: refused, reset, TLS handshake failed; DEADLINE_EXCEEDED: no answer in time) or does
     * not serve the method (UNIMPLEMENTED: istiod has no HandleCSR, a 1.4 Citadel may have no CreateCertificate).
     */
    static boolean triesTheNextAfter(Status.Code code) {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.UNIMPLEMENTED
                || code == Status.Code.DEADLINE_EXCEEDED;
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

    /** Signs {@code csrPem} at the first endpoint that answers (see the class comment). */
    public List<String> sign(String csrPem, Duration ttl, Credentials credentials) throws CaException {
        List<CaEndpoint> order = choice.order(endpoints);
        List<String> passedOver = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            CaEndpoint endpoint = order.get(i);
            Instant began = clock.instant();
            AgentMetrics.CaOutcome outcome = AgentMetrics.CaOutcome.ERROR;
            try {
                List<String> chain = sign(endpoint, csrPem, ttl, credentials);
                outcome = AgentMetrics.CaOutcome.OK;
                choice.issuedBy(endpoints, endpoint, passedOver);
                return chain;
            } catch (StatusRuntimeException e) {
                String failure = endpoint + ": " + describe(e.getStatus());
                if (!triesTheNextAfter(e.getStatus().getCode()) || i == order.size() - 1) {
                    throw new CaException(passedOver.isEmpty() ? failure
                            : String.join("; ", passedOver) + "; then " + failure, e);
                }
                passedOver.add(failure);
            } finally {
                metrics.caRequest(endpoint.protocol(), outcome, Duration.between(began, clock.instant()));
            }
        }
        throw new IllegalStateException("no CA endpoint to try");
    }

    private static String describe(Status status) {
        return status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription())
                + (status.getCause() == null ? "" : " (" + status.getCause().getMessage() + ")");
    }

    private List<String> sign(CaEndpoint endpoint, String csrPem, Duration ttl, Credentials credentials)
            throws CaException {
        ManagedChannel channel = NettyChannelBuilder
                .forAddress(endpoint.address().host(), endpoint.address().port())
                .sslContext(sslContext(credentials))
                .overrideAuthority(endpoint.serverName())
                .maxInboundMessageSize(MAX_ANSWER_BYTES)
                .maxInboundMetadataSize(MAX_METADATA_BYTES)
                .build();
        try {
            Metadata headers = new Metadata();
            headers.put(CLUSTER_ID, endpoint.clusterId());
            credentials.bearerToken().ifPresent(token -> headers.put(AUTHORIZATION, "Bearer " + token));
            io.grpc.Channel intercepted = ClientInterceptors.intercept(channel,
                    MetadataUtils.newAttachHeadersInterceptor(headers));
            return switch (endpoint.protocol()) {
                case CREATE_CERTIFICATE -> createCertificate(endpoint, intercepted, csrPem, ttl);
                case HANDLE_CSR -> handleCsr(endpoint, intercepted, csrPem, ttl, credentials);
            };
        } finally {
            channel.shutdownNow();
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static List<String> createCertificate(CaEndpoint endpoint, io.grpc.Channel channel, String csrPem,
                                                  Duration ttl) throws CaException {
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

    private static List<String> handleCsr(CaEndpoint endpoint, io.grpc.Channel channel, String csrPem, Duration ttl,
                                          Credentials credentials) throws CaException {
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
