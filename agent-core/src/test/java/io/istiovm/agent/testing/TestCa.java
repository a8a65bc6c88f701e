package io.istiovm.agent.testing;

import com.google.protobuf.ByteString;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.istiovm.agent.ca.proto.CsrRequest;
import io.istiovm.agent.ca.proto.CsrResponse;
import io.istiovm.agent.ca.proto.IstioCAServiceGrpc;
import io.istiovm.agent.ca.proto.IstioCertificateRequest;
import io.istiovm.agent.ca.proto.IstioCertificateResponse;
import io.istiovm.agent.ca.proto.IstioCertificateServiceGrpc;
import io.istiovm.agent.certs.IdentityValidator;
import io.istiovm.agent.certs.Pem;
import io.netty.handler.ssl.ClientAuth;
import java.io.IOException;
import java.io.StringReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.cert.CertPathValidator;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.X509EncodedKeySpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509TrustManager;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/**
 * A mesh CA for tests, on 127.0.0.1 with mutual TLS: it serves both {@code istio.v1.auth.IstioCertificateService/
 * CreateCertificate} and {@code istio.v1.auth.IstioCAService/HandleCSR}, and like istiod and Citadel it signs
 * for the identity that <em>authenticated</em> (the client certificate's SPIFFE id, or the identity bound to
 * its bearer token), not for whatever the CSR asks.
 *
 * <p>Its serving certificate carries {@link #SERVER_NAMES} (istiod's default ISTIOD_SAN and Citadel's
 * name). Certificates live for {@link #ttl(Duration)} (down to one second; default: what the client asks).
 * {@link #fault(Fault)} makes it misbehave; {@link #stop()} / {@link #restart()} take it off the network and
 * back on the same port; {@link #serveOnly(Service)} makes it a CA of one protocol (an Istio 1.4 Citadel, an
 * istiod), which answers the other with UNIMPLEMENTED as a gRPC server without that service does. Usage:
 *
 * <pre>{@code
 * try (TestCa ca = TestCa.start(Clock.systemUTC())) {
 *     ca.pki().writeIdentity(dir, ca.identity("vm", "default"), ...);   // or ca.writeIdentity(dir, ...)
 *     ca.ttl(Duration.ofSeconds(20));
 *     // point CA_ADDR at 127.0.0.1:ca.port(), ISTIOD_SAN at istiod.istio-system.svc
 * }
 * }</pre>
 */
public final class TestCa implements AutoCloseable {
    public static final String TRUST_DOMAIN = "cluster.local";
    public static final List<String> SERVER_NAMES = List.of("istiod.istio-system.svc", "istio-citadel");

    /** The two CA services, by the method each has. */
    public enum Service {
        /** istio.v1.auth.IstioCertificateService/CreateCertificate (istiod). */
        CREATE_CERTIFICATE,
        /** istio.v1.auth.IstioCAService/HandleCSR (Citadel, Istio 1.4). */
        HANDLE_CSR
    }

    /** Ways the CA misbehaves. */
    public enum Fault {
        NONE,
        /** Every call fails with UNAVAILABLE. */
        UNAVAILABLE,
        /** Answers only after {@link #slowDelay(Duration)} (default 30 s): longer than the client's deadline. */
        SLOW,
        /** Signs with a CA the client does not trust (the chain does not verify to root-cert.pem). */
        WRONG_CHAIN,
        /** Signs a certificate for another workload ({@code sa/intruder}). */
        OTHER_IDENTITY,
        /** Signs with a root of the same name as the mesh's that has expired. */
        EXPIRED_ROOT,
        /** Answers with a 5 MiB chain (a padded PEM block): more than the agent reads. */
        OVERSIZED_ANSWER,
        /** Fails with 16 KiB of trailers: more metadata than the agent reads. */
        OVERSIZED_METADATA
    }

    private static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of("ClusterID",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<Optional<String>> CALLER = Context.key("caller");
    private static final Context.Key<String> CALLER_CLUSTER = Context.key("cluster");

    private final Clock clock;
    private final TestPki pki;
    private final TestPki impostor;
    private final TestPki expiredRoot;
    private final KeyPair serverKeys;
    private final X509Certificate serverCert;
    private final ScheduledExecutorService delays = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "test-ca-delay");
        t.setDaemon(true);
        return t;
    });
    private final AtomicInteger issued = new AtomicInteger();
    private final List<String> clusterIds = new CopyOnWriteArrayList<>();
    private final List<java.math.BigInteger> clientSerials = new CopyOnWriteArrayList<>();
    private final List<java.math.BigInteger> issuedSerials = new CopyOnWriteArrayList<>();
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private volatile Set<Service> services = EnumSet.allOf(Service.class);
    private volatile Fault fault = Fault.NONE;
    private volatile Duration ttl;
    private volatile Duration slowDelay = Duration.ofSeconds(30);
    private volatile String token;
    private volatile String tokenIdentity;
    private final String host;
    private int port;
    private Server server;

    private TestCa(Clock clock, String host) {
        this.clock = clock;
        this.host = host;
        Instant now = clock.instant();
        this.pki = TestPki.create("Test mesh root", now.minus(Duration.ofDays(1)), now.plus(Duration.ofDays(3650)));
        this.impostor = TestPki.create("Impostor root", now.minus(Duration.ofDays(1)), now.plus(Duration.ofDays(3650)));
        this.expiredRoot = TestPki.create("Test mesh root", now.minus(Duration.ofDays(30)), now.minus(Duration.ofDays(1)));
        this.serverKeys = TestPki.ecKeys();
        this.serverCert = pki.issue(serverKeys.getPublic(), List.of("spiffe://" + TRUST_DOMAIN
                + "/ns/istio-system/sa/istiod"), SERVER_NAMES, now.minus(Duration.ofDays(1)),
                now.plus(Duration.ofDays(3650)));
    }

    /** Starts on an ephemeral loopback port. */
    public static TestCa start(Clock clock) throws IOException {
        return start(clock, "127.0.0.1");
    }

    /**
     * Starts on an ephemeral port of {@code host}, an address of this machine: e.g. the host end of a container's
     * veth, so that an agent in the container reaches the CA of the test JVM.
     */
    public static TestCa start(Clock clock, String host) throws IOException {
        return start(clock, host, 0);
    }

    /** Starts on {@code port} of {@code host} (0: an ephemeral one), e.g. istiod's 15012 in a sandbox's namespace. */
    public static TestCa start(Clock clock, String host, int port) throws IOException {
        TestCa ca = new TestCa(clock, host);
        ca.listen(port);
        return ca;
    }

    public int port() {
        return port;
    }

    public String address() {
        return host + ":" + port;
    }

    /** A port on 127.0.0.1 where nothing listens (bound, then closed: connections to it are refused). */
    public static int closedPort() throws IOException {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    public TestPki pki() {
        return pki;
    }

    public X509Certificate root() {
        return pki.root();
    }

    public static String identity(String namespace, String serviceAccount) {
        return "spiffe://" + TRUST_DOMAIN + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    /** Issues an identity directly (as provisioning would) valid from now for {@code lifetime}. */
    public X509Certificate writeIdentity(java.nio.file.Path dir, String spiffeUri, Duration lifetime) {
        Instant now = clock.instant();
        return pki.writeIdentity(dir, spiffeUri, now, now.plus(lifetime), pki.root());
    }

    public TestCa fault(Fault newFault) {
        this.fault = newFault;
        return this;
    }

    /** Lifetime of issued certificates; null = the requested validity. */
    public TestCa ttl(Duration lifetime) {
        this.ttl = lifetime;
        return this;
    }

    public TestCa slowDelay(Duration delay) {
        this.slowDelay = delay;
        return this;
    }

    /** Accepts {@code bearer} as a credential for {@code spiffeUri} (enrolment). */
    public TestCa acceptToken(String bearer, String spiffeUri) {
        this.token = bearer;
        this.tokenIdentity = spiffeUri;
        SecretMaterial.record(bearer);
        return this;
    }

    /** Certificates issued so far. */
    public int issued() {
        return issued.get();
    }

    /** Serial of every certificate issued so far, in order. */
    public List<java.math.BigInteger> issuedSerials() {
        return List.copyOf(issuedSerials);
    }

    /**
     * The full method name of every call so far, in order, those answered UNIMPLEMENTED included (e.g.
     * {@code istio.v1.auth.IstioCAService/HandleCSR}).
     */
    public List<String> calls() {
        return List.copyOf(calls);
    }

    /** Serves only {@code service} from now on (listening again on the same port if it listens). */
    public TestCa serveOnly(Service service) throws IOException, InterruptedException {
        services = EnumSet.of(service);
        synchronized (this) {
            if (server != null) {
                stop();
                listen(port);
            }
        }
        return this;
    }

    /** The ClusterID header of every request so far. */
    public List<String> clusterIds() {
        return List.copyOf(clusterIds);
    }

    /** Serial of the client certificate of every mTLS-authenticated request so far, in order. */
    public List<java.math.BigInteger> clientSerials() {
        return List.copyOf(clientSerials);
    }

    /** Takes the CA off the network (connections are refused) until {@link #restart()}. */
    public synchronized void stop() throws InterruptedException {
        if (server != null) {
            server.shutdownNow();
            server.awaitTermination(10, TimeUnit.SECONDS);
            server = null;
        }
    }

    /** Listens again on the same port. */
    public synchronized void restart() throws IOException {
        if (server == null) {
            listen(port);
        }
    }

    private synchronized void listen(int listenPort) throws IOException {
        ServerInterceptor authentication = new Authentication();
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, listenPort))
                .sslContext(GrpcSslContexts.configure(io.netty.handler.ssl.SslContextBuilder.forServer(
                                serverKeys.getPrivate(), serverCert))
                        .trustManager(new ClientCertificates())
                        .clientAuth(ClientAuth.OPTIONAL)
                        .build())
                .fallbackHandlerRegistry(new UnservedMethods());
        if (services.contains(Service.CREATE_CERTIFICATE)) {
            builder.addService(ServerInterceptors.intercept(new CertificateService(), authentication));
        }
        if (services.contains(Service.HANDLE_CSR)) {
            builder.addService(ServerInterceptors.intercept(new CitadelService(), authentication));
        }
        server = builder.build().start();
        port = server.getPort();
    }

    @Override
    public void close() {
        try {
            stop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            delays.shutdownNow();
        }
    }

    /**
     * Verifies client certificates against the mesh root at the CA's clock rather than the system's, so that a
     * test on a stepped clock can renew with a certificate that the stepped clock made (valid from hours ahead).
     */
    private final class ClientCertificates implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(pki.root(), null)));
                parameters.setRevocationEnabled(false);
                parameters.setDate(Date.from(clock.instant()));
                CertPathValidator.getInstance("PKIX").validate(
                        CertificateFactory.getInstance("X.509").generateCertPath(
                        java.util.Arrays.stream(chain).filter(c -> !c.equals(pki.root())).toList()), parameters);
            } catch (GeneralSecurityException e) {
                throw new CertificateException("test CA: client certificate refused: " + e.getMessage(), e);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("the test CA only serves");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[] {pki.root()};
        }
    }

    /** Records calls of methods the CA does not serve; the server then answers UNIMPLEMENTED. */
    private final class UnservedMethods extends io.grpc.HandlerRegistry {
        @Override
        public io.grpc.ServerMethodDefinition<?, ?> lookupMethod(String methodName, String authority) {
            calls.add(methodName);
            return null;
        }
    }

    /** Works out who is calling: the client certificate's SPIFFE id, or the identity bound to the token. */
    private final class Authentication implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                            ServerCallHandler<Q, R> next) {
            calls.add(call.getMethodDescriptor().getFullMethodName());
            Optional<String> caller = Optional.empty();
            SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
            try {
                if (session != null) {
                    Certificate[] peer = session.getPeerCertificates();
                    clientSerials.add(((X509Certificate) peer[0]).getSerialNumber());
                    List<String> uris = IdentityValidator.uriSans((X509Certificate) peer[0]);
                    caller = uris.size() == 1 ? Optional.of(uris.get(0)) : Optional.empty();
                }
            } catch (SSLPeerUnverifiedException e) {
                String bearer = headers.get(AUTHORIZATION);
                SecretMaterial.record(bearer == null ? null : bearer.replaceFirst("^Bearer ", ""));
                if (token != null && ("Bearer " + token).equals(bearer)) {
                    caller = Optional.of(tokenIdentity);
                }
            }
            String cluster = headers.get(CLUSTER_ID);
            Context context = Context.current().withValue(CALLER, caller)
                    .withValue(CALLER_CLUSTER, cluster == null ? "" : cluster);
            return Contexts.interceptCall(context, call, headers, next);
        }
    }

    private final class CertificateService extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {
        @Override
        public void createCertificate(IstioCertificateRequest request,
                                      StreamObserver<IstioCertificateResponse> response) {
            answer(response, () -> {
                List<String> chain = sign(request.getCsr(), Duration.ofSeconds(request.getValidityDuration()));
                return IstioCertificateResponse.newBuilder().addAllCertChain(chain).build();
            });
        }
    }

    private final class CitadelService extends IstioCAServiceGrpc.IstioCAServiceImplBase {
        @Override
        public void handleCSR(CsrRequest request, StreamObserver<CsrResponse> response) {
            answer(response, () -> {
                List<String> chain = sign(request.getCsrPem().toString(StandardCharsets.US_ASCII),
                        Duration.ofMinutes(request.getRequestedTtlMinutes()));
                return CsrResponse.newBuilder().setIsApproved(true)
                        .setSignedCert(ByteString.copyFrom(chain.get(0), StandardCharsets.US_ASCII))
                        .setCertChain(ByteString.copyFrom(String.join("", chain.subList(1, chain.size())),
                                StandardCharsets.US_ASCII))
                        .build();
            });
        }
    }

    @FunctionalInterface
    private interface Answer<R> {
        R get() throws Exception;
    }

    private <R> void answer(StreamObserver<R> response, Answer<R> answer) {
        clusterIds.add(CALLER_CLUSTER.get());
        Fault current = fault;
        if (current == Fault.UNAVAILABLE) {
            response.onError(Status.UNAVAILABLE.withDescription("test CA: fault UNAVAILABLE").asRuntimeException());
            return;
        }
        if (current == Fault.OVERSIZED_METADATA) {
            Metadata trailers = new Metadata();
            trailers.put(Metadata.Key.of("padding", Metadata.ASCII_STRING_MARSHALLER), "x".repeat(16 * 1024));
            response.onError(Status.INTERNAL.withDescription("test CA: fault OVERSIZED_METADATA")
                    .asRuntimeException(trailers));
            return;
        }
        R value;
        try {
            value = answer.get();
        } catch (StatusException e) {
            response.onError(e.status.asRuntimeException());
            return;
        } catch (Exception e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.toString()).asRuntimeException());
            return;
        }
        if (current == Fault.SLOW) {
            Context context = Context.current();
            delays.schedule(() -> {
                if (!context.isCancelled()) {
                    response.onNext(value);
                    response.onCompleted();
                }
            }, slowDelay.toMillis(), TimeUnit.MILLISECONDS);
            return;
        }
        response.onNext(value);
        response.onCompleted();
    }

    private static final class StatusException extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient Status status;

        StatusException(Status status) {
            super(status.getDescription(), null, false, false);
            this.status = status;
        }
    }

    private List<String> sign(String csrPem, Duration requested) throws Exception {
        SecretMaterial.record(csrPem);
        Optional<String> caller = CALLER.get();
        if (caller.isEmpty()) {
            throw new StatusException(Status.UNAUTHENTICATED.withDescription(
                    "test CA: no client certificate with one SPIFFE id and no accepted bearer token"));
        }
        PKCS10CertificationRequest csr;
        try (PEMParser parser = new PEMParser(new StringReader(csrPem))) {
            csr = (PKCS10CertificationRequest) parser.readObject();
        }
        SubjectPublicKeyInfo info = csr.getSubjectPublicKeyInfo();
        // The JDK has no KeyFactory under the EC OID, so convert by name before BC verifies the CSR signature.
        String algorithm = info.getAlgorithm().getAlgorithm().getId().equals("1.2.840.10045.2.1") ? "EC" : "RSA";
        PublicKey key = KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(info.getEncoded()));
        if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(key))) {
            throw new StatusException(Status.INVALID_ARGUMENT.withDescription("test CA: CSR signature is invalid"));
        }
        Instant now = clock.instant();
        Duration lifetime = ttl != null ? ttl : requested;
        Fault current = fault;
        String subject = current == Fault.OTHER_IDENTITY ? identity("intruder", "intruder") : caller.get();
        TestPki signer = switch (current) {
            case WRONG_CHAIN -> impostor;
            case EXPIRED_ROOT -> expiredRoot;
            default -> pki;
        };
        X509Certificate leaf = signer.issue(key, List.of(subject), List.of(), now, now.plus(lifetime));
        issuedSerials.add(leaf.getSerialNumber());
        issued.incrementAndGet();
        List<String> chain = new ArrayList<>();
        chain.add(Pem.encodeCertificates(List.of(leaf)));
        chain.add(Pem.encodeCertificates(List.of(signer.root())));
        chain.forEach(SecretMaterial::record);
        if (current == Fault.OVERSIZED_ANSWER) {
            chain.add("-----BEGIN CERTIFICATE-----\n" + "A".repeat(5 * 1024 * 1024) + "\n-----END CERTIFICATE-----\n");
        }
        return chain;
    }
}
