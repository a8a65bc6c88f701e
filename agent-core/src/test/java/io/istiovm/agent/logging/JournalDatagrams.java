package io.istiovm.agent.logging;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Parses a native-protocol datagram as journald does (systemd 252, src/journal/journald-native.c,
 * server_process_native_message): a line with '=' is KEY=value; a line without is a name followed by a 64-bit
 * little-endian length, that many bytes and '\n'. Anything else is rejected, so a wrong encoding fails the test.
 */
final class JournalDatagrams {
    private JournalDatagrams() {
    }

    static List<Map.Entry<String, byte[]>> parse(byte[] datagram) {
        List<Map.Entry<String, byte[]>> fields = new ArrayList<>();
        int p = 0;
        while (p < datagram.length) {
            int nl = indexOf(datagram, (byte) '\n', p);
            if (nl < 0) {
                throw new IllegalArgumentException("a field without its final newline at " + p);
            }
            int eq = indexOf(datagram, (byte) '=', p);
            if (eq >= 0 && eq < nl) {
                fields.add(Map.entry(name(datagram, p, eq), Arrays.copyOfRange(datagram, eq + 1, nl)));
                p = nl + 1;
            } else {
                String name = name(datagram, p, nl);
                long length = 0;
                for (int b = 0; b < 8; b++) {
                    length |= (datagram[nl + 1 + b] & 0xffL) << (8 * b);
                }
                int start = nl + 9;
                int end = Math.toIntExact(start + length);
                if (datagram[end] != '\n') {
                    throw new IllegalArgumentException("binary field " + name + " not followed by a newline");
                }
                fields.add(Map.entry(name, Arrays.copyOfRange(datagram, start, end)));
                p = end + 1;
            }
        }
        return fields;
    }

    private static String name(byte[] datagram, int from, int to) {
        String name = new String(datagram, from, to - from, StandardCharsets.US_ASCII);
        if (!name.matches("[A-Z][A-Z0-9_]{0,63}")) {
            throw new IllegalArgumentException("not a valid journal field name: " + name);
        }
        return name;
    }

    /** The fields as strings, last value of a name winning; for assertions on the simple ones. */
    static Map<String, String> strings(List<Map.Entry<String, byte[]>> fields) {
        Map<String, String> map = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, byte[]> f : fields) {
            map.put(f.getKey(), new String(f.getValue(), StandardCharsets.UTF_8));
        }
        return map;
    }

    private static int indexOf(byte[] bytes, byte b, int from) {
        for (int i = from; i < bytes.length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return -1;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
