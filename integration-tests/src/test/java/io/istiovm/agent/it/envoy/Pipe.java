package io.istiovm.agent.it.envoy;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/**
 * The far half of a relay: copies what arrives on its channel to {@code peer}, and closes {@code peer} once that is
 * written out; a failure (a refused handshake, a reset) closes its channel and so, in turn, the peer, as Envoy resets
 * the downstream when its upstream fails.
 */
public final class Pipe extends ChannelInboundHandlerAdapter {
    private final Channel peer;

    public Pipe(Channel peer) {
        this.peer = peer;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        peer.writeAndFlush(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        System.err.println("relay: " + ctx.channel().remoteAddress() + ": " + cause);
        ctx.close();
    }
}
