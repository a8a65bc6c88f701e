package io.istiovm.agent.it.envoy;

import io.istiovm.agent.testing.OriginalDestination;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * One of the stand-in's capture listeners (outbound 15001, inbound 15006): on accept it writes
 * {@code ORIGINAL_DST <ip:port> EPOCH <n>} and then echoes. The address is what netfilter's REDIRECT recorded
 * ({@code getsockopt(SO_ORIGINAL_DST)}, as Envoy's original_dst listener filter reads it), or the connection's
 * local address when the connection was not redirected.
 */
final class CaptureListener implements AutoCloseable {
    private final Channel server;

    /** {@code onOpen} / {@code onClose} hear every connection, for the stand-in's counters and records. */
    CaptureListener(EventLoopGroup group, InetSocketAddress address, int epoch, Runnable onOpen,
                    Consumer<Integer> onClose) throws InterruptedException {
        server = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(EpollSocketChannel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                onOpen.run();
                                String line = "ORIGINAL_DST " + originalDestination(ch) + " EPOCH " + epoch + "\n";
                                ctx.writeAndFlush(Unpooled.copiedBuffer(line, StandardCharsets.US_ASCII));
                            }

                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ctx.writeAndFlush((ByteBuf) msg);
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                onClose.accept(address.getPort());
                            }
                        });
                    }
                }).bind(address).sync().channel();
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
