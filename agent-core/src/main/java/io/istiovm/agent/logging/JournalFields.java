package io.istiovm.agent.logging;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.event.Level;

/**
 * One journal entry as journald's native protocol takes it in a datagram, after systemd 252
 * (src/libsystemd/sd-journal/journal-send.c, sd_journal_sendv; parsed by src/journal/journald-native.c): per field
 * {@code KEY=value\n}, or, when the value holds a newline, {@code KEY\n}, the value's length as a 64-bit
 * little-endian integer, the value and {@code \n}. Field names follow journal_field_valid: [A-Z0-9_], at most 64
 * characters, not starting with a digit, and not with '_' (those are journald's trusted fields, which a client
 * cannot set).
 */
public final class JournalFields {
    static final int NAME_MAX = 64;
    public static final String IDENTIFIER = "istio-vm-agent";
    /** The names this backend writes itself; a key-value or MDC entry by one of these names is written X_NAME. */
    private static final Set<String> RESERVED = Set.of("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE",
            "CODE_LINE", "CODE_FUNC", "LOGGER", "THREAD", "EXCEPTION", "ERROR_STACK", "COMPONENT", "MESSAGE_ID");

    private final List<String> names = new ArrayList<>();
    private final List<byte[]> values = new ArrayList<>();

    /** The fields of {@code entry}, in the order they are sent. */
    public static JournalFields of(LogEntry entry) {
        JournalFields fields = new JournalFields();
        fields.add("MESSAGE", entry.message());
        String priority = String.valueOf(priority(entry.level()));
        for (Map.Entry<String, String> kv : entry.keyValues()) {
            // A call site may name the syslog priority itself (Envoy's "critical" is 2, which slf4j cannot say).
            if (kv.getKey().equals("PRIORITY") && kv.getValue().matches("[0-7]")) {
                priority = kv.getValue();
            }
        }
        fields.add("PRIORITY", priority);
        fields.add("SYSLOG_IDENTIFIER", IDENTIFIER);
        fields.add("COMPONENT", entry.component());
        fields.add("LOGGER", entry.logger());
        fields.add("THREAD", entry.thread());
        entry.callSite().ifPresent(site -> {
            fields.add("CODE_FILE", site.file());
            fields.add("CODE_LINE", String.valueOf(site.line()));
            fields.add("CODE_FUNC", site.function());
        });
        entry.throwable().ifPresent(t -> {
            fields.add("EXCEPTION", t.toString());
            fields.add("ERROR_STACK", PlainLines.stack(t));
        });
        for (Map.Entry<String, String> kv : entry.keyValues()) {
            if (!kv.getKey().equals("PRIORITY")) {
                fields.add(userName(kv.getKey()), kv.getValue());
            }
        }
        entry.mdc().forEach((key, value) -> {
            if (!key.equals(LogEntry.COMPONENT)) {
                fields.add(userName(key), value);
            }
        });
        return fields;
    }

    /** The syslog priority of a level: error 3, warn 4, info 6, debug and trace 7 (as journalctl -p counts). */
    public static int priority(Level level) {
        return switch (level) {
            case ERROR -> 3;
            case WARN -> 4;
            case INFO -> 6;
            case DEBUG, TRACE -> 7;
        };
    }

    private static String userName(String key) {
        String name = sanitize(key);
        return RESERVED.contains(name) ? "X_" + name : name;
    }

    /**
     * A journal field name for {@code key}: camelCase and separators become upper snake case ({@code certSerial},
     * {@code cert.serial} and {@code cert-serial} all CERT_SERIAL), any other character '_', leading '_' dropped, a
     * leading digit prefixed with F_, at most 64 characters.
     */
    public static String sanitize(String key) {
        Objects.requireNonNull(key, "key");
        StringBuilder name = new StringBuilder(key.length() + 4);
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c >= 'A' && c <= 'Z' && i > 0) {
                char before = key.charAt(i - 1);
                if ((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9')) {
                    name.append('_');
                }
            }
            char upper = Character.toUpperCase(c);
            name.append((upper >= 'A' && upper <= 'Z') || (c >= '0' && c <= '9') ? upper : '_');
        }
        int start = 0;
        while (start < name.length() && name.charAt(start) == '_') {
            start++;
        }
        String clean = name.substring(start);
        if (clean.isEmpty()) {
            clean = "FIELD";
        } else if (clean.charAt(0) >= '0' && clean.charAt(0) <= '9') {
            clean = "F_" + clean;
        }
        return clean.length() > NAME_MAX ? clean.substring(0, NAME_MAX) : clean;
    }

    private void add(String name, String value) {
        names.add(name);
        values.add(value.getBytes(StandardCharsets.UTF_8));
    }

    int size() {
        return names.size();
    }

    String name(int i) {
        return names.get(i);
    }

    byte[] value(int i) {
        return values.get(i);
    }

    /** The index of the field with the longest value. */
    int longest() {
        int longest = 0;
        for (int i = 1; i < values.size(); i++) {
            if (values.get(i).length > values.get(longest).length) {
                longest = i;
            }
        }
        return longest;
    }

    /**
     * Cuts field {@code i} to at most {@code keep} bytes (at a UTF-8 character boundary) and appends a marker that
     * says how much was dropped.
     */
    void cut(int i, int keep) {
        byte[] value = values.get(i);
        if (keep >= value.length) {
            return;
        }
        int end = Math.max(0, keep);
        while (end > 0 && (value[end] & 0xC0) == 0x80) {
            end--;
        }
        byte[] marker = (" [istio-vm-agent cut " + (value.length - end) + " bytes: the entry did not fit in a"
                + " journal datagram]").getBytes(StandardCharsets.UTF_8);
        byte[] cut = new byte[end + marker.length];
        System.arraycopy(value, 0, cut, 0, end);
        System.arraycopy(marker, 0, cut, end, marker.length);
        values.set(i, cut);
    }

    /** The datagram. */
    public byte[] encode() {
        int total = 0;
        for (int i = 0; i < names.size(); i++) {
            total += names.get(i).length() + values.get(i).length + 10;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(total);
        for (int i = 0; i < names.size(); i++) {
            byte[] name = names.get(i).getBytes(StandardCharsets.US_ASCII);
            byte[] value = values.get(i);
            out.writeBytes(name);
            if (contains(value, (byte) '\n')) {
                out.write('\n');
                long length = value.length;
                for (int b = 0; b < 8; b++) {
                    out.write((int) (length >>> (8 * b)) & 0xff);
                }
            } else {
                out.write('=');
            }
            out.writeBytes(value);
            out.write('\n');
        }
        return out.toByteArray();
    }

    private static boolean contains(byte[] bytes, byte b) {
        for (byte x : bytes) {
            if (x == b) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return String.join(",", names);
    }
}
