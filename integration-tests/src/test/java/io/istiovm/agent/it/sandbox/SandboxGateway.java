package io.istiovm.agent.it.sandbox;

import io.istiovm.agent.it.envoy.HeaderInsertion;
import io.istiovm.agent.it.envoy.PeerIdentityTrustManager;
import io.istiovm.agent.it.envoy.Pipe;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SniCompletionEvent;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.Map;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * The sandbox's gateway: a TLS listener (15443) that requires a client certificate chaining to the mesh root,
 * reads the SNI, routes by it to a backend ({@code routes}: SNI to address) and tells the backend who the peer is.
 *
 * <p>It plays two parts of the real path in one: the east-west gateway's AUTO_PASSTHROUGH listener, which routes
 * on Istio's SNI ({@code outbound_.<port>_._.<fqdn>}) without terminating TLS, and the destination sidecar, which
 * terminates the mTLS with the destination's identity (its certificate is httpbin's, whose SPIFFE id the client's
 * route expects), checks the client against the mesh root and hands the request to the application with the
 * client's identity in {@code x-forwarded-client-cert} (Envoy's XFCC format, {@code By=;Hash=;Subject=;URI=}, as
 * Envoy 1.2x's connection manager writes it with set_current_client_cert_details subject and uri). An SNI without
 * a route, a handshake that fails (no client certificate, one from another root) close the connection, as Envoy
 * does when no filter chain matches or the handshake fails.
 */
public final class SandboxGateway implements AutoCloseable {
    private final Channel server;
    private final Map<String, InetSocketAddress> routes;
    private final String byUri;

    /**
     * Binds {@code address}; {@code tls} is a server context that requires client certificates trusted by the mesh
     * root; {@code byUri} is the gateway's own SPIFFE id (XFCC's {@code By}).
     */
    public SandboxGateway(EventLoopGroup group, InetSocketAddress address, SslContext tls, String byUri,
                          Map<String, InetSocketAddress> routes) throws InterruptedException {
        if (!tls.isServer()) {
            throw new IllegalArgumentException("the gateway needs a server TLS context");
        }
        this.routes = Map.copyOf(routes);
        this.byUri = byUri;
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // One context for every name: the SNI selects the backend, not the certificate.
                        ch.pipeline().addLast(new SniHandler(host -> tls));
                        ch.pipeline().addLast("route", new Routing(ch));
                    }
                }).bind(address).sync().channel();
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** One downstream connection: SNI, then the handshake, then a pipe to the backend. */
    private final class Routing extends ChannelInboundHandlerAdapter {
        private final SocketChannel ch;
        private InetSocketAddress backend;
        private Channel upstream;
        /** What arrived with the handshake's end, before the backend's connection was up (TLS 1.3 early writes). */
        private final java.util.List<Object> early = new java.util.ArrayList<>();
        private boolean connected;

        Routing(SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event instanceof SniCompletionEvent sni) {
                backend = sni.hostname() == null ? null : routes.get(sni.hostname());
                if (backend == null) {
                    System.err.println("gateway: no route for SNI " + sni.hostname());
                    ctx.close();
                }
            } else if (event instanceof SslHandshakeCompletionEvent handshake) {
                if (backend == null) {
                    return;
                }
                if (!handshake.isSuccess()) {
                    System.err.println("gateway: handshake refused: " + handshake.cause());
                    ctx.close();
                    return;
                }
                try {
                    connect(ctx, xfcc(ctx.pipeline().get(SslHandler.class)));
                } catch (Exception e) {
                    System.err.println("gateway: " + e);
                    ctx.close();
                }
            }
            ctx.fireUserEventTriggered(event);
        }

        private void connect(ChannelHandlerContext ctx, String xfcc) {
            ch.config().setAutoRead(false);
            ctx.pipeline().addBefore("route", null, new HeaderInsertion("x-forwarded-client-cert", xfcc));
            upstream = new Bootstrap().group(ch.eventLoop()).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel up) {
                            up.pipeline().addLast(new Pipe(ch));
                        }
                    }).connect(backend).addListener((ChannelFutureListener) done -> {
                        if (done.isSuccess()) {
                            this.connected = true;
                            early.forEach(upstream::write);
                            early.clear();
                            upstream.flush();
                            ch.config().setAutoRead(true);
                        } else {
                            ch.close();
                        }
                    }).channel();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!connected) {
                early.add(msg);
                return;
            }
            upstream.writeAndFlush(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            early.forEach(io.netty.util.ReferenceCountUtil::release);
            early.clear();
            if (upstream != null) {
                upstream.close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** The XFCC value for the verified peer of {@code tls}: {@code By=<ours>;Hash=<sha256>;Subject="";URI=<peer>}. */
    private String xfcc(SslHandler tls) throws SSLPeerUnverifiedException, CertificateParsingException,
            CertificateEncodingException, NoSuchAlgorithmException {
        X509Certificate peer = (X509Certificate) tls.engine().getSession().getPeerCertificates()[0];
        String uri = PeerIdentityTrustManager.spiffeIds(peer).stream().findFirst().orElseThrow(() ->
                new CertificateParsingException("the client certificate has no SPIFFE id"));
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(peer.getEncoded()));
        String subject = peer.getSubjectX500Principal().getName().replace("\"", "\\\"");
        return "By=" + byUri + ";Hash=" + hash + ";Subject=\"" + subject + "\";URI=" + uri;
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
    }
}
