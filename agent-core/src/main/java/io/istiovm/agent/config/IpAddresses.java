package io.istiovm.agent.config;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/** Literal IP address parsing that can never fall through to a DNS lookup. */
public final class IpAddresses {
    private static final Pattern IPV4 = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9A-Fa-f:.]+");

    private IpAddresses() {
    }

    public static InetAddress parse(String text) throws InvalidValueException {
        if (text.isEmpty()) {
            throw new InvalidValueException("empty address");
        }
        var v4 = IPV4.matcher(text);
        if (v4.matches()) {
            byte[] bytes = new byte[4];
            for (int i = 0; i < 4; i++) {
                String octet = v4.group(i + 1);
                if (octet.length() > 1 && octet.charAt(0) == '0') {
                    throw new InvalidValueException("'" + text + "': octet '" + octet
                            + "' has a leading zero (ambiguous: octal or decimal?)");
                }
                int value = Integer.parseInt(octet);
                if (value > 255) {
                    throw new InvalidValueException("'" + text + "': octet " + value + " is larger than 255");
                }
                bytes[i] = (byte) value;
            }
            return fromBytes(bytes);
        }
        if (text.indexOf(':') >= 0 && IPV6_CHARS.matcher(text).matches()) {
            try {
                // Only hex digits, colons and dots reach this call, so it parses a literal and never resolves.
                // An IPv4-mapped literal (::ffff:a.b.c.d) comes back as IPv4, which is what it means.
                return InetAddress.getByName(text);
            } catch (UnknownHostException e) {
                throw new InvalidValueException("'" + text + "' is not a valid IPv6 address");
            }
        }
        throw new InvalidValueException("'" + text + "' is not an IPv4 or IPv6 address");
    }

    static InetAddress fromBytes(byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("address of " + bytes.length + " bytes", e);
        }
    }

    /** The canonical text: dotted quad, or RFC 5952 compressed IPv6. */
    public static String format(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address.getHostAddress();
        }
        byte[] b = address.getAddress();
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLen = 0;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLen && j - i > 1) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                out.append("::");
                i += bestLen - 1;
                continue;
            }
            if (out.length() > 0 && out.charAt(out.length() - 1) != ':') {
                out.append(':');
            }
            out.append(Integer.toHexString(groups[i]));
        }
        return out.toString();
    }
}
