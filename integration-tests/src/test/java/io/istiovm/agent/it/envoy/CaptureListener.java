package io.istiovm.agent.it.envoy;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.ptr.IntByReference;
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
    private static final int SOL_IP = 0;
    private static final int SO_ORIGINAL_DST = 80;

    /** The one libc call needed. */
    interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int getsockopt(int fd, int level, int name, byte[] value, IntByReference length);
    }

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
        byte[] sockaddr = new byte[16];
        IntByReference length = new IntByReference(sockaddr.length);
        if (LibC.INSTANCE.getsockopt(channel.fd().intValue(), SOL_IP, SO_ORIGINAL_DST, sockaddr, length) == 0) {
            // struct sockaddr_in: family (host order), port (network order), IPv4 address.
            int port = ((sockaddr[2] & 0xff) << 8) | (sockaddr[3] & 0xff);
            return (sockaddr[4] & 0xff) + "." + (sockaddr[5] & 0xff) + "." + (sockaddr[6] & 0xff) + "."
                    + (sockaddr[7] & 0xff) + ":" + port;
        }
        InetSocketAddress local = channel.localAddress();
        return local.getAddress().getHostAddress() + ":" + local.getPort();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
    }
}
