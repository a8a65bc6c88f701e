package io.istiovm.agent.it.sandbox;

import io.istiovm.agent.it.envoy.PeerIdentityTrustManager;
import io.istiovm.agent.testing.TestCa;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sandbox's "cluster" side as one process, to run inside the cluster network namespace
 * ({@code ip netns exec}): the {@link SandboxGateway} and the {@link SandboxHttpbin} behind it. Prints
 * {@code READY} once both listen, then serves until killed.
 *
 * <pre>
 *   SandboxCluster --identity DIR --gateway IP:PORT --httpbin IP:PORT --route SNI=IP:PORT ...
 *                  [--ca IP:PORT --ca-ttl SECONDS --gateway-id URI --workload URI --provision DIR]
 * </pre>
 *
 * {@code DIR} holds the gateway's identity as an operator places one (cert-chain.pem, key.pem in PKCS#8,
 * root-cert.pem: the mesh root its clients must chain to); the gateway's own SPIFFE id is its certificate's URI.
 *
 * <p>With {@code --ca}, the process is istiod's CA too: the {@link TestCa} (both protocols) listens there, issuing
 * certificates that live {@code --ca-ttl} seconds, and everything is issued from its root. The gateway's identity
 * ({@code --gateway-id}) is written into the {@code --identity} directory first, and the VM's first identity
 * ({@code --workload}, as {@code istioctl} would provision it, with the CA's lifetime) into {@code --provision}.
 */
public final class SandboxCluster {
    private SandboxCluster() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = new LinkedHashMap<>();
        Map<String, InetSocketAddress> routes = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (args[i].equals("--route")) {
                String[] route = args[i + 1].split("=", 2);
                routes.put(route[0], address(route[1]));
            } else {
                options.put(args[i], args[i + 1]);
            }
        }
        Path identity = Path.of(required(options, "--identity"));
        TestCa ca = null;
        if (options.containsKey("--ca")) {
            InetSocketAddress at = address(options.get("--ca"));
            Duration ttl = Duration.ofSeconds(Long.parseLong(required(options, "--ca-ttl")));
            ca = TestCa.start(Clock.systemUTC(), at.getHostString(), at.getPort()).ttl(ttl);
            ca.writeIdentity(identity, required(options, "--gateway-id"), Duration.ofDays(1));
            ca.writeIdentity(Path.of(required(options, "--provision")), required(options, "--workload"), ttl);
            System.out.println("ca " + ca.address() + " ttl " + ttl.toSeconds() + "s root \""
                    + ca.root().getSubjectX500Principal().getName() + "\"");
        }
        SslContext tls = SslContextBuilder.forServer(identity.resolve("cert-chain.pem").toFile(),
                        identity.resolve("key.pem").toFile())
                .trustManager(identity.resolve("root-cert.pem").toFile())
                .clientAuth(ClientAuth.REQUIRE)
                // BoringSSL, as Envoy's: the JDK's TLS refuses a ClientHello with Istio's SNI (illegal_parameter).
                .sslProvider(SslProvider.OPENSSL)
                .build();
        String byUri = PeerIdentityTrustManager.spiffeIds(certificate(identity.resolve("cert-chain.pem"))).stream()
                .findFirst().orElseThrow(() -> new IllegalArgumentException("the gateway's certificate has no SPIFFE URI"));
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        SandboxHttpbin httpbin = new SandboxHttpbin(address(required(options, "--httpbin")));
        SandboxGateway gateway = new SandboxGateway(group, address(required(options, "--gateway")), tls, byUri,
                routes);
        System.out.println("gateway " + gateway.address() + " httpbin " + httpbin.address() + " routes " + routes);
        System.out.println("READY");
        System.out.flush();
        Thread.currentThread().join();
    }

    private static java.security.cert.X509Certificate certificate(Path pem) throws Exception {
        try (var in = java.nio.file.Files.newInputStream(pem)) {
            return (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(in);
        }
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }
}
