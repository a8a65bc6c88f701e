package io.istiovm.agent.logging;

import static io.istiovm.agent.logging.Entries.entry;
import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** The journal sink against a datagram socket the test binds where journald's would be. */
class JournalSinkTest {
    private static final int LIMIT = 4 * 1024 * 1024;
    private Path dir;
    private UnixAddress address;
    private UnixDatagramSocket journald;
    private UnixDatagramSocket sender;
    private final List<LogEntry> fallback = new CopyOnWriteArrayList<>();
    private JournalSink sink;

    @BeforeEach
    void bind() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "x-j");
        address = UnixAddress.path(dir.resolve("socket").toString());
        journald = UnixDatagramSocket.bind(address);
        sender = UnixDatagramSocket.open();
        sink = new JournalSink(sender, address, fallback::add);
    }

    @AfterEach
    void close() throws Exception {
        sender.close();
        journald.close();
        Files.deleteIfExists(dir.resolve("socket"));
        Files.deleteIfExists(dir);
    }

    private List<Map.Entry<String, byte[]>> received() throws Exception {
        byte[] datagram = journald.receive(Duration.ofSeconds(10), LIMIT).orElseThrow();
        return JournalDatagrams.parse(datagram);
    }

    @Test
    void anEntryIsOneDatagramOfItsFields() throws Exception {
        sink.write(entry(Level.INFO, "rotated", List.of(Map.entry("CERT_SERIAL", "1f"),
                Map.entry("certNotAfter", "2026-12-03T04:00:00Z")), Map.of("COMPONENT", "identity", "req.id", "7"),
                null));

        Map<String, String> fields = JournalDatagrams.strings(received());
        assertThat(fields).containsExactlyInAnyOrderEntriesOf(Map.ofEntries(
                Map.entry("MESSAGE", "rotated"),
                Map.entry("PRIORITY", "6"),
                Map.entry("SYSLOG_IDENTIFIER", "istio-vm-agent"),
                Map.entry("COMPONENT", "identity"),
                Map.entry("LOGGER", "io.istiovm.agent.ca.IdentityComponent"),
                Map.entry("THREAD", "identity"),
                Map.entry("CODE_FILE", "io/istiovm/agent/ca/IdentityComponent.java"),
                Map.entry("CODE_LINE", "42"),
                Map.entry("CODE_FUNC", "io.istiovm.agent.ca.IdentityComponent.rotate"),
                Map.entry("CERT_SERIAL", "1f"),
                Map.entry("CERT_NOT_AFTER", "2026-12-03T04:00:00Z"),
                Map.entry("REQ_ID", "7")));
        assertThat(fallback).isEmpty();
    }

    @Test
    void aMultiLineValueTravelsInTheBinarySafeFormByteForByte() throws Exception {
        String message = "first line\nsecond = line\n\u00e9t\u00e9\n";
        IllegalStateException failure = new IllegalStateException("broken\ntwice");
        sink.write(entry(Level.ERROR, message, List.of(), Map.of(), failure));

        byte[] datagram = journald.receive(Duration.ofSeconds(10), LIMIT).orElseThrow();
        byte[] utf8 = message.getBytes(StandardCharsets.UTF_8);
        byte[] length = new byte[8];
        length[0] = (byte) utf8.length;
        // The wire form itself: name, newline, little-endian 64-bit length, the bytes, newline.
        assertThat(datagram).startsWith(JournalDatagrams.concat("MESSAGE\n".getBytes(StandardCharsets.US_ASCII),
                length, utf8, new byte[] {'\n'}));
        List<Map.Entry<String, byte[]>> fields = JournalDatagrams.parse(datagram);
        assertThat(fields.get(0).getValue()).isEqualTo(utf8);
        Map<String, String> strings = JournalDatagrams.strings(fields);
        assertThat(strings).containsEntry("PRIORITY", "3")
                .containsEntry("EXCEPTION", "java.lang.IllegalStateException: broken\ntwice");
        assertThat(strings.get("ERROR_STACK")).startsWith("java.lang.IllegalStateException: broken\ntwice\n")
                .contains("\tat io.istiovm.agent.logging.JournalSinkTest.aMultiLineValueTravels");
    }

    @Test
    void levelsMapToSyslogPrioritiesAndACallSiteMayNameItsOwn() throws Exception {
        Map<Level, String> expected = Map.of(Level.ERROR, "3", Level.WARN, "4", Level.INFO, "6", Level.DEBUG, "7",
                Level.TRACE, "7");
        for (Map.Entry<Level, String> e : expected.entrySet()) {
            sink.write(entry(e.getKey(), "x"));
            assertThat(JournalDatagrams.strings(received())).containsEntry("PRIORITY", e.getValue());
        }
        sink.write(entry(Level.ERROR, "critical from Envoy", List.of(Map.entry("PRIORITY", "2")), Map.of(), null));
        List<Map.Entry<String, byte[]>> fields = received();
        assertThat(fields.stream().filter(f -> f.getKey().equals("PRIORITY")).toList()).hasSize(1);
        assertThat(JournalDatagrams.strings(fields)).containsEntry("PRIORITY", "2");
    }

    @Test
    void fieldNamesAreSanitizedToJournalNames() {
        assertThat(JournalFields.sanitize("CERT_SERIAL")).isEqualTo("CERT_SERIAL");
        assertThat(JournalFields.sanitize("certSerial")).isEqualTo("CERT_SERIAL");
        assertThat(JournalFields.sanitize("envoy.epoch")).isEqualTo("ENVOY_EPOCH");
        assertThat(JournalFields.sanitize("rule-family")).isEqualTo("RULE_FAMILY");
        assertThat(JournalFields.sanitize("_PID")).isEqualTo("PID");
        assertThat(JournalFields.sanitize("2nd")).isEqualTo("F_2ND");
        assertThat(JournalFields.sanitize("___")).isEqualTo("FIELD");
        assertThat(JournalFields.sanitize("caf\u00e9 \u00fcber")).isEqualTo("CAF___BER");
        assertThat(JournalFields.sanitize("x".repeat(100))).hasSize(64).matches("X{64}");
    }

    @Test
    void aKeyNamedLikeOneOfOursDoesNotReplaceIt() throws Exception {
        sink.write(entry(Level.INFO, "real", List.of(Map.entry("message", "forged"), Map.entry("_PID", "1")),
                Map.of(), null));
        Map<String, String> fields = JournalDatagrams.strings(received());
        assertThat(fields).containsEntry("MESSAGE", "real").containsEntry("X_MESSAGE", "forged")
                .containsEntry("PID", "1");
    }

    @Test
    void anEntryTooLargeForADatagramLosesTheTailOfItsLongestFieldWithAMarker() throws Exception {
        // Far above the socket's send buffer (net.core.wmem_default, 208 KiB by default): the kernel says EMSGSIZE.
        String huge = "0123456789".repeat(100_000);
        sink.write(entry(Level.WARN, "a long one", List.of(Map.entry("BLOB", huge)), Map.of(), null));

        Map<String, String> fields = JournalDatagrams.strings(received());
        assertThat(fields).containsEntry("MESSAGE", "a long one").containsEntry("PRIORITY", "4");
        String blob = fields.get("BLOB");
        assertThat(blob.length()).isLessThan(huge.length());
        assertThat(huge).startsWith(blob.substring(0, blob.indexOf(" [istio-vm-agent cut ")));
        assertThat(blob).matches("(?s).* \\[istio-vm-agent cut \\d+ bytes: the entry did not fit in a journal"
                + " datagram\\]");
        assertThat(fallback).isEmpty();
    }

    @Test
    void whenTheJournalIsGoneTheEntryGoesToTheFallback() throws Exception {
        JournalSink gone = new JournalSink(sender, UnixAddress.path(dir.resolve("nothing").toString()),
                fallback::add);
        LogEntry entry = entry(Level.WARN, "still said");
        gone.write(entry);
        assertThat(fallback).containsExactly(entry);
    }
}
