package io.istiovm.agent.envoy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Splits a byte stream into lines of at most {@code limit} bytes each: a longer line is cut at the limit, the rest
 * up to its newline counted and dropped, and the line marked {@code … [cut: N more bytes]}. The memory it needs
 * is the limit and one read buffer, whatever the stream sends (Envoy's output is the output of a process that
 * parses traffic from the network, so its size is not the agent's to trust). Bytes that are not UTF-8 (or a
 * character the cut split) become U+FFFD.
 */
final class BoundedLines {
    /** Envoy's longest ordinary log lines (a dumped config) stay whole below this. */
    static final int LINE_LIMIT = 16 * 1024;

    private final int limit;
    private final java.util.concurrent.atomic.AtomicLong cut = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicInteger longest = new java.util.concurrent.atomic.AtomicInteger();

    BoundedLines(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("line limit must be positive, got " + limit);
        }
        this.limit = limit;
    }

    /** The marker a cut line ends with. */
    static String cutMarker(long dropped) {
        return " … [cut: " + dropped + " more bytes]";
    }

    /** How many lines were cut so far. */
    long cutLines() {
        return cut.get();
    }

    /** The longest line given to the sink so far, in characters, marker included. */
    int longestLine() {
        return longest.get();
    }

    /** Reads {@code in} to its end, giving each line (without its newline) to {@code sink}. */
    void read(InputStream in, Consumer<String> sink) throws IOException {
        byte[] line = new byte[limit];
        byte[] buffer = new byte[8192];
        int length = 0;
        long dropped = 0;
        int n;
        while ((n = in.read(buffer)) >= 0) {
            for (int i = 0; i < n; i++) {
                byte b = buffer[i];
                if (b == '\n') {
                    emit(sink, line, length, dropped);
                    length = 0;
                    dropped = 0;
                } else if (length < limit) {
                    line[length++] = b;
                } else {
                    dropped++;
                }
            }
        }
        if (length > 0 || dropped > 0) {
            emit(sink, line, length, dropped);
        }
    }

    private void emit(Consumer<String> sink, byte[] line, int length, long dropped) {
        String text = text(line, length, dropped);
        if (dropped > 0) {
            cut.incrementAndGet();
        }
        longest.accumulateAndGet(text.length(), Math::max);
        sink.accept(text);
    }

    private static String text(byte[] line, int length, long dropped) {
        int end = length > 0 && line[length - 1] == '\r' && dropped == 0 ? length - 1 : length;
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(line, 0, end)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalStateException("a replacing decoder does not throw", e);
        }
        return dropped == 0 ? text : text + cutMarker(dropped);
    }
}
