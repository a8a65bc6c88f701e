package io.istiovm.agent.it.envoy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

/**
 * A tiny netty HTTP/1.1 server for the stand-in's admin API and its static HTTP listeners, on TCP or, for an
 * admin {@code pipe} address, a unix socket (epoll; the group must then be an epoll group).
 */
final class StandInHttpServer implements AutoCloseable {
    /** A handler's answer. */
    record Reply(int status, String contentType, String body) {
        static Reply text(int status, String body) {
            return new Reply(status, "text/plain", body);
        }

        static Reply json(String body) {
            return new Reply(200, "application/json", body);
        }
    }

    private final Channel channel;

    StandInHttpServer(EventLoopGroup group, InetSocketAddress address, Function<FullHttpRequest, Reply> handler)
            throws InterruptedException {
        this(group, (SocketAddress) address, handler);
    }

    /**
     * On the unix socket {@code path}, as Envoy binds a {@code Pipe}: whatever is at the path is unlinked first
     * (a hot restart's new epoch takes the path over this way), then the socket is bound and given {@code mode}.
     */
    static StandInHttpServer onPipe(EventLoopGroup epoll, Path path, int mode, Function<FullHttpRequest, Reply> handler)
            throws InterruptedException, java.io.IOException {
        Files.deleteIfExists(path);
        StandInHttpServer server = new StandInHttpServer(epoll, new DomainSocketAddress(path.toString()), handler);
        if (mode != 0) {
            Files.setPosixFilePermissions(path, java.nio.file.attribute.PosixFilePermissions.fromString(
                    permissions(mode)));
        }
        return server;
    }

    private static String permissions(int mode) {
        String all = "rwxrwxrwx";
        StringBuilder text = new StringBuilder();
        for (int bit = 8; bit >= 0; bit--) {
            text.append((mode & (1 << bit)) != 0 ? all.charAt(8 - bit) : '-');
        }
        return text.toString();
    }

    private StandInHttpServer(EventLoopGroup group, SocketAddress address, Function<FullHttpRequest, Reply> handler)
            throws InterruptedException {
        channel = new ServerBootstrap().group(group).channel(address instanceof DomainSocketAddress
                        ? EpollServerDomainSocketChannel.class : NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                                        Reply reply = handler.apply(req);
                                        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.valueOf(reply.status()),
                                                Unpooled.copiedBuffer(reply.body(), StandardCharsets.UTF_8));
                                        response.headers().set(HttpHeaderNames.CONTENT_TYPE, reply.contentType());
                                        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH,
                                                response.content().readableBytes());
                                        // Announce the close below, so that clients do not reuse the connection.
                                        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                                        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
                                    }
                                });
                    }
                }).bind(address).sync().channel();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }
}
