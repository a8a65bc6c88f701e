package io.istiovm.agent.it.envoy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.charset.StandardCharsets;

/**
 * Adds one HTTP/1.1 header to the first message of a byte stream, right after its first line (a request's or a
 * response's start line), then steps aside: how the stand-in and the sandbox's gateway add the headers an Envoy
 * would ({@code server: envoy} on a response, {@code x-forwarded-client-cert} on a request) without parsing HTTP.
 * Only the first message of a connection gets the header, so the servers behind it answer one request per
 * connection ({@code Connection: close}), as the sandbox's httpbin does. A stream whose first line is longer than
 * {@value #MAX_FIRST_LINE} bytes is passed on untouched.
 */
public final class HeaderInsertion extends ChannelInboundHandlerAdapter {
    static final int MAX_FIRST_LINE = 8192;

    private final byte[] header;
    private ByteBuf pending;

    /** {@code name: value}; neither may hold a line break. */
    public HeaderInsertion(String name, String value) {
        if (!name.matches("[A-Za-z0-9-]+") || value.contains("\r") || value.contains("\n")) {
            throw new IllegalArgumentException("not a header: " + name + ": " + value);
        }
        this.header = (name + ": " + value + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        pending = pending == null ? in : Unpooled.wrappedBuffer(pending, in);
        int lf = pending.indexOf(pending.readerIndex(), pending.writerIndex(), (byte) '\n');
        if (lf < 0 && pending.readableBytes() <= MAX_FIRST_LINE) {
            return;
        }
        ByteBuf out = pending;
        pending = null;
        ctx.pipeline().remove(this);
        if (lf < 0) {
            ctx.fireChannelRead(out);
            return;
        }
        int split = lf + 1 - out.readerIndex();
        ctx.fireChannelRead(Unpooled.wrappedBuffer(out.readRetainedSlice(split), Unpooled.wrappedBuffer(header),
                out));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (pending != null) {
            // The stream ended before a whole first line arrived: pass on what there was.
            ByteBuf rest = pending;
            pending = null;
            ctx.fireChannelRead(rest);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }
}
