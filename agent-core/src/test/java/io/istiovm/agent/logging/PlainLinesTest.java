package io.istiovm.agent.logging;

import static io.istiovm.agent.logging.Entries.entry;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

class PlainLinesTest {
    @Test
    void aLineHasTimeLevelThreadLoggerMessageAndPairs() {
        assertThat(PlainLines.format(entry(Level.WARN, "CA unreachable, retrying",
                List.of(Map.entry("CERT_SERIAL", "1f")), Map.of("COMPONENT", "identity"), null)))
                .isEqualTo("2026-12-02T19:03:07.123Z WARN  [identity] io.istiovm.agent.ca.IdentityComponent - CA"
                        + " unreachable, retrying CERT_SERIAL=1f COMPONENT=identity\n");
    }

    @Test
    void controlCharactersCannotForgeALine() {
        String line = PlainLines.format(entry(Level.INFO, "host a\n2026-12-02T00:00:00.000Z ERROR [x] forged\r\t",
                List.of(Map.entry("k", "v\nw")), Map.of(), null));
        assertThat(line).hasLineCount(1)
                .contains("host a\\n2026-12-02T00:00:00.000Z ERROR [x] forged\\r\\t k=v\\nw");
    }

    @Test
    void theStackFollowsTheLine() {
        String text = PlainLines.format(entry(Level.ERROR, "failed", List.of(), Map.of(),
                new IllegalStateException("boom")));
        assertThat(text).startsWith("2026-12-02T19:03:07.123Z ERROR [identity] io.istiovm.agent.ca.IdentityComponent"
                + " - failed\njava.lang.IllegalStateException: boom\n\tat ");
    }

    @Test
    void theStderrSinkWritesTheLine() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new StderrSink(out).write(entry(Level.INFO, "hello"));
        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(
                "2026-12-02T19:03:07.123Z INFO  [identity] io.istiovm.agent.ca.IdentityComponent - hello\n");
    }

    @Test
    void theTimestampIsIsoInstantAtMilliseconds() {
        java.util.Random random = new java.util.Random(12);
        for (int i = 0; i < 10_000; i++) {
            java.time.Instant t = java.time.Instant.ofEpochMilli(
                    (long) (random.nextDouble() * 253_402_300_799_000L)); // 1970 .. 9999-12-31
            StringBuilder out = new StringBuilder();
            PlainLines.timestamp(t.getEpochSecond(), t.getNano() / 1_000_000, out);
            assertThat(out.toString()).isEqualTo(java.time.format.DateTimeFormatter.ISO_INSTANT.format(t)
                    .replaceFirst("Z$", t.getNano() == 0 ? ".000Z" : "Z"));
        }
    }
}
