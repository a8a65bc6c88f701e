package io.istiovm.agent.it.envoy;

import io.istiovm.agent.testing.OriginalDestination;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslHandler;
import io.netty.internal.tcnative.SSL;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import javax.net.ssl.SSLEngine;

/**
 * One of the stand-in's capture listeners (outbound 15001, inbound 15006). The address of each accepted connection
 * is what netfilter's REDIRECT recorded ({@code getsockopt(SO_ORIGINAL_DST)}, as Envoy's original_dst listener
 * filter reads it), or the connection's local address when it was not redirected. The {@link Router} decides on
 * that address: a {@link Relay} sends the connection on (over TLS when the relay says so, with headers added as an
 * Envoy would); no route means the stand-in's echo: {@code ORIGINAL_DST <ip:port> EPOCH <n>}, then every byte back.
 */
final class CaptureListener implements AutoCloseable {
    private final Channel server;

    /** Where a captured connection goes; empty for the echo. */
    interface Router {
        Optional<Relay> route(String originalDestination) throws Exception;
    }

    /**
     * A captured connection's way on: to {@code upstream}, over TLS from {@code tls} with {@code sni} when present;
     * {@code requestHeaders} added to the first request and {@code responseHeaders} to the first response.
     */
    record Relay(InetSocketAddress upstream, Optional<SslContext> tls, String sni, Map<String, String> requestHeaders,
                 Map<String, String> responseHeaders) {
        Relay {
            requestHeaders = Map.copyOf(requestHeaders);
            responseHeaders = Map.copyOf(responseHeaders);
            if (tls.isPresent() && (sni == null || sni.isEmpty())) {
                throw new IllegalArgumentException("TLS to " + upstream + " needs an SNI");
            }
        }

        static Relay plain(InetSocketAddress upstream) {
            return new Relay(upstream, Optional.empty(), "", Map.of(), Map.of());
        }
    }

    /** {@code onOpen} / {@code onClose} hear every connection, for the stand-in's counters and records. */
    CaptureListener(EventLoopGroup group, InetSocketAddress address, int epoch, Router router, Runnable onOpen,
                    Consumer<Integer> onClose) throws InterruptedException {
        server = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(EpollSocketChannel ch) {
                        ch.config().setAutoRead(false);
                        ch.pipeline().addLast("capture", new Captured(ch, epoch, router, onOpen,
                                () -> onClose.accept(address.getPort())));
                    }
                }).bind(address).sync().channel();
    }

    /** One accepted connection: echoed, or relayed to its route's upstream. */
    private static final class Captured extends ChannelInboundHandlerAdapter {
        private final EpollSocketChannel ch;
        private final int epoch;
        private final Router router;
        private final Runnable onOpen;
        private final Runnable onClose;
        private Channel upstream;

        Captured(EpollSocketChannel ch, int epoch, Router router, Runnable onOpen, Runnable onClose) {
            this.ch = ch;
            this.epoch = epoch;
            this.router = router;
            this.onOpen = onOpen;
            this.onClose = onClose;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            onOpen.run();
            String destination = originalDestination(ch);
            Optional<Relay> relay;
            try {
                relay = router.route(destination);
            } catch (Exception e) {
                // No usable route (e.g. no identity yet for mTLS): Envoy resets the connection.
                System.err.println("capture: no way on for " + destination + ": " + e);
                ctx.close();
                return;
            }
            if (relay.isEmpty()) {
                String line = "ORIGINAL_DST " + destination + " EPOCH " + epoch + "\n";
                ctx.writeAndFlush(Unpooled.copiedBuffer(line, StandardCharsets.US_ASCII));
                ch.config().setAutoRead(true);
                return;
            }
            relay(ctx, relay.get());
        }

        private void relay(ChannelHandlerContext ctx, Relay relay) {
            relay.requestHeaders().forEach((name, value) ->
                    ctx.pipeline().addBefore("capture", null, new HeaderInsertion(name, value)));
            upstream = new Bootstrap().group(ch.eventLoop()).channel(EpollSocketChannel.class)
                    .handler(new ChannelInitializer<EpollSocketChannel>() {
                        @Override
                        protected void initChannel(EpollSocketChannel up) {
                            if (relay.tls().isPresent()) {
                                SSLEngine engine = relay.tls().get().newEngine(up.alloc());
                                // Istio's SNI has '_', which javax.net.ssl.SNIHostName refuses, and netty checks
                                // every SNI with it (and then sends none): set it on the BoringSSL object, which
                                // takes it as given, as Envoy's does.
                                SSL.setTlsExtHostName(((ReferenceCountedOpenSslEngine) engine).sslPointer(),
                                        relay.sni());
                                up.pipeline().addLast(new SslHandler(engine));
                            }
                            relay.responseHeaders().forEach((name, value) ->
                                    up.pipeline().addLast(new HeaderInsertion(name, value)));
                            up.pipeline().addLast(new Pipe(ch));
                        }
                    }).connect(relay.upstream()).addListener((ChannelFutureListener) connected -> {
                        if (connected.isSuccess()) {
                            ch.config().setAutoRead(true);
                        } else {
                            ch.close();
                        }
                    }).channel();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (upstream == null) {
                ctx.writeAndFlush((ByteBuf) msg);
            } else {
                upstream.writeAndFlush(msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (upstream != null) {
                upstream.close();
            }
            onClose.run();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    static String originalDestination(EpollSocketChannel channel) {
        InetSocketAddress local = channel.localAddress();
        return OriginalDestination.redirected(channel.fd().intValue(), false)
                .orElse(local.getAddress().getHostAddress() + ":" + local.getPort());
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
    }
}
