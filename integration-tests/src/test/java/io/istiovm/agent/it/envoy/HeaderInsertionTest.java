package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The header goes after the stream's first line, however the bytes arrive, and only once. */
class HeaderInsertionTest {
    @Test
    void theHeaderFollowsTheFirstLineEvenWhenItArrivesInPieces() {
        EmbeddedChannel channel = new EmbeddedChannel(new HeaderInsertion("server", "envoy"));
        channel.writeInbound(bytes("HTTP/1.1 200 O"));
        assertThat((Object) channel.readInbound()).as("held until the first line is whole").isNull();
        channel.writeInbound(bytes("K\r\ncontent-length: 0\r\n\r\n"));
        channel.writeInbound(bytes("HTTP/1.1 200 OK\r\n"));

        assertThat(readAll(channel)).isEqualTo("HTTP/1.1 200 OK\r\nserver: envoy\r\ncontent-length: 0\r\n\r\n"
                + "HTTP/1.1 200 OK\r\n");
    }

    @Test
    void aStreamWithoutALineBreakPassesUntouched() {
        EmbeddedChannel channel = new EmbeddedChannel(new HeaderInsertion("server", "envoy"));
        channel.writeInbound(bytes("x".repeat(HeaderInsertion.MAX_FIRST_LINE + 1)));
        assertThat(readAll(channel)).isEqualTo("x".repeat(HeaderInsertion.MAX_FIRST_LINE + 1));

        EmbeddedChannel ended = new EmbeddedChannel(new HeaderInsertion("server", "envoy"));
        ended.writeInbound(bytes("partial"));
        ended.close();
        assertThat(readAll(ended)).as("what there was, once the stream ended").isEqualTo("partial");
    }

    @Test
    void aHeaderThatWouldBreakTheMessageIsRefused() {
        assertThatThrownBy(() -> new HeaderInsertion("server", "envoy\r\nx-injected: 1"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new HeaderInsertion("bad name", "v")).isInstanceOf(IllegalArgumentException.class);
    }

    private static ByteBuf bytes(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1);
    }

    private static String readAll(EmbeddedChannel channel) {
        StringBuilder out = new StringBuilder();
        for (ByteBuf read = channel.readInbound(); read != null; read = channel.readInbound()) {
            out.append(read.toString(StandardCharsets.ISO_8859_1));
            read.release();
        }
        return out.toString();
    }
}
