package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BoundedLinesTest {
    private static final int TEN_MB = 10 * 1024 * 1024;

    @Test
    void aTenMegabyteLineIsCutAtTheLimitAndMarkedWithinBoundedMemory() throws Exception {
        InputStream stream = new SequenceInputStream(java.util.Collections.enumeration(List.of(
                new ByteArrayInputStream("[info] before\n".getBytes(StandardCharsets.UTF_8)),
                new RepeatedBytes('x', TEN_MB),
                new ByteArrayInputStream("\n[info] after\n".getBytes(StandardCharsets.UTF_8)))));
        List<String> lines = new ArrayList<>();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        new BoundedLines(BoundedLines.LINE_LIMIT).read(stream, lines::add);

        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).isEqualTo("[info] before");
        assertThat(lines.get(1)).isEqualTo("x".repeat(BoundedLines.LINE_LIMIT)
                + BoundedLines.cutMarker(TEN_MB - BoundedLines.LINE_LIMIT));
        assertThat(lines.get(1)).endsWith(" … [cut: 10469376 more bytes]");
        assertThat(lines.get(2)).isEqualTo("[info] after");
        // readLine() would hold the whole 10 MB line (twice, as chars); the cut reader holds the limit.
        assertThat(allocated).as("bytes allocated while reading a 10 MB line").isLessThan(1024 * 1024);
    }

    @Test
    void shortLinesPassWholeAndALastLineWithoutNewlineIsKept() throws Exception {
        List<String> lines = new ArrayList<>();
        new BoundedLines(8).read(new ByteArrayInputStream("1234567\r\nabc\n\nü-tail".getBytes(StandardCharsets.UTF_8)),
                lines::add);
        assertThat(lines).containsExactly("1234567", "abc", "", "ü-tail");

        List<String> cut = new ArrayList<>();
        new BoundedLines(4).read(new ByteArrayInputStream("abcdef\nabcd\n".getBytes(StandardCharsets.UTF_8)), cut::add);
        assertThat(cut).containsExactly("abcd" + BoundedLines.cutMarker(2), "abcd");
    }

    /** {@code count} copies of one byte, produced as read: the test itself holds no 10 MB array. */
    private static final class RepeatedBytes extends InputStream {
        private final byte value;
        private long left;

        RepeatedBytes(char value, long count) {
            this.value = (byte) value;
            this.left = count;
        }

        @Override
        public int read() {
            if (left == 0) {
                return -1;
            }
            left--;
            return value;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left == 0) {
                return -1;
            }
            int n = (int) Math.min(len, left);
            java.util.Arrays.fill(b, off, off + n, value);
            left -= n;
            return n;
        }
    }
}
