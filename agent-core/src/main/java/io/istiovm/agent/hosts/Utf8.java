package io.istiovm.agent.hosts;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Strict UTF-8 for the hosts file and its sources: malformed input is refused, never replaced by U+FFFD or '?'.
 * Text that decodes strictly encodes back to the very same bytes, which is what lets the hosts file be edited as
 * text and every byte outside the agent's block be kept.
 */
final class Utf8 {
    private Utf8() {
    }

    /** The text of {@code bytes}, or nothing when they are not well-formed UTF-8. */
    static Optional<String> decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    /** The 1-based number of the first line that is not well-formed UTF-8; 0 when every line is. */
    static int firstInvalidLine(byte[] bytes) {
        int start = 0;
        int line = 1;
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == '\n') {
                if (decode(bytes, start, i - start).isEmpty()) {
                    return line;
                }
                start = i + 1;
                line++;
            }
        }
        return 0;
    }

    private static Optional<String> decode(byte[] bytes, int offset, int length) {
        try {
            return Optional.of(StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, offset, length)).toString());
        } catch (CharacterCodingException e) {
            return Optional.empty();
        }
    }
}
