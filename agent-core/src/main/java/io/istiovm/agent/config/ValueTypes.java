package io.istiovm.agent.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** The typed value forms that configuration keys use. Each parser is strict and explains its refusals. */
public final class ValueTypes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    private static final Pattern HOST_LABEL = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?");
    private static final Pattern USER_NAME = Pattern.compile("[a-z_][a-z0-9_-]{0,30}\\$?");
    private static final Pattern DURATION_PART = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ns|us|µs|ms|s|m|h)");
    private static final Pattern DECIMAL = Pattern.compile("[0-9]+(\\.[0-9]+)?|\\.[0-9]+");

    private ValueTypes() {
    }

    private record Simple<T>(String describe, Parser<T> parser, Function<T, String> formatter)
            implements ValueType<T> {
        Simple(String describe, Parser<T> parser) {
            this(describe, parser, String::valueOf);
        }

        @Override
        public T parse(String raw) throws InvalidValueException {
            return parser.parse(raw);
        }

        @Override
        public String format(T value) {
            return formatter.apply(value);
        }
    }

    @FunctionalInterface
    private interface Parser<T> {
        T parse(String raw) throws InvalidValueException;
    }

    /** Free text; {@code allowEmpty=false} rejects the empty string. Whitespace inside is allowed. */
    public static ValueType<String> text() {
        return new Simple<>("text", raw -> raw);
    }

    /** One word: no whitespace or control characters. */
    public static ValueType<String> token() {
        return new Simple<>("word", raw -> {
            for (int i = 0; i < raw.length(); i++) {
                char c = raw.charAt(i);
                if (Character.isWhitespace(c) || Character.isISOControl(c)) {
                    throw new InvalidValueException("contains whitespace or a control character at position "
                            + (i + 1));
                }
            }
            return raw;
        });
    }

    /** Space-separated words, split as istio-start.sh split ISTIO_AGENT_FLAGS. */
    public static ValueType<List<String>> words() {
        return new Simple<>("space-separated words", raw -> raw.isBlank()
                ? List.of()
                : List.of(raw.trim().split("\\s+")), value -> String.join(" ", value));
    }

    public static ValueType<Boolean> bool() {
        // The same spellings as Go's strconv.ParseBool, which Istio's own readers use.
        Set<String> yes = Set.of("1", "t", "T", "true", "TRUE", "True");
        Set<String> no = Set.of("0", "f", "F", "false", "FALSE", "False");
        return new Simple<>("boolean", raw -> {
            if (yes.contains(raw)) {
                return Boolean.TRUE;
            }
            if (no.contains(raw)) {
                return Boolean.FALSE;
            }
            throw new InvalidValueException("'" + raw + "' is not a boolean (use true or false)");
        });
    }

    public static ValueType<Integer> integer(int min, int max) {
        return new Simple<>("integer " + min + "-" + max, raw -> {
            if (!raw.matches("[0-9]{1,10}")) {
                throw new InvalidValueException("'" + raw + "' is not a non-negative integer");
            }
            long value = Long.parseLong(raw);
            if (value < min || value > max) {
                throw new InvalidValueException(value + " is out of range (" + min + "-" + max + ")");
            }
            return (int) value;
        });
    }

    public static ValueType<Long> unsigned32() {
        return new Simple<>("integer 1-4294967295", raw -> {
            if (!raw.matches("[0-9]{1,10}")) {
                throw new InvalidValueException("'" + raw + "' is not a non-negative integer");
            }
            long value = Long.parseLong(raw);
            if (value < 1 || value > 0xFFFF_FFFFL) {
                throw new InvalidValueException(value + " is out of range (1-4294967295)");
            }
            return value;
        });
    }

    public static ValueType<Integer> oneOf(int... allowed) {
        String list = Arrays.stream(allowed).mapToObj(Integer::toString).collect(Collectors.joining(", "));
        return new Simple<>("one of " + list, raw -> {
            for (int candidate : allowed) {
                if (Integer.toString(candidate).equals(raw)) {
                    return candidate;
                }
            }
            throw new InvalidValueException("'" + raw + "' is not one of " + list);
        });
    }

    /** One of fixed words, compared case-sensitively as Istio does. */
    public static ValueType<String> choice(String... allowed) {
        List<String> options = List.of(allowed);
        return new Simple<>(String.join(" | ", options), raw -> {
            if (options.contains(raw)) {
                return raw;
            }
            for (String option : options) {
                if (option.equalsIgnoreCase(raw)) {
                    throw new InvalidValueException("'" + raw + "' must be spelled '" + option + "'");
                }
            }
            throw new InvalidValueException("'" + raw + "' is not one of " + String.join(", ", options));
        });
    }

    public static ValueType<Integer> port() {
        return new Simple<>("port 1-65535", ValueTypes::parsePort);
    }

    static int parsePort(String raw) throws InvalidValueException {
        if (raw.isEmpty()) {
            throw new InvalidValueException("empty port");
        }
        if (raw.matches("[0-9]+[:-][0-9]+")) {
            throw new InvalidValueException("'" + raw + "': port ranges are not supported; list each port");
        }
        if (!raw.matches("[0-9]{1,6}")) {
            throw new InvalidValueException("'" + raw + "' is not a port number");
        }
        int port = Integer.parseInt(raw);
        if (port < 1 || port > 65535) {
            throw new InvalidValueException("port " + port + " is out of range (1-65535)");
        }
        return port;
    }

    /** Comma-separated ports; with {@code allowAll}, also {@code *} alone. Empty means none. */
    public static ValueType<PortList> portList(boolean allowAll) {
        return new Simple<>(allowAll ? "port list or *" : "port list",
                raw -> starList(raw, allowAll, "ports", ValueTypes::parsePort, PortList.NONE, PortList.ALL,
                        PortList::of));
    }

    /** Comma-separated CIDRs of either family; with {@code allowAll}, also {@code *} alone. Empty means none. */
    public static ValueType<CidrList> cidrList(boolean allowAll) {
        return new Simple<>(allowAll ? "CIDR list or *" : "CIDR list",
                raw -> starList(raw, allowAll, "networks", Cidr::parse, CidrList.NONE, CidrList.ALL, CidrList::of));
    }

    /** The grammar Istio's list keys share: empty (none), {@code *} alone (all, where allowed), or items. */
    private static <I, L> L starList(String raw, boolean allowAll, String noun, Parser<I> item, L none, L all,
                                     Function<List<I>, L> of) throws InvalidValueException {
        String trimmed = raw.trim();
        if (trimmed.isEmpty()) {
            return none;
        }
        String notAllowed = "'*' is not allowed here; list the " + noun;
        if (trimmed.equals("*")) {
            if (!allowAll) {
                throw new InvalidValueException(notAllowed);
            }
            return all;
        }
        List<I> items = new ArrayList<>();
        for (String text : splitList(trimmed)) {
            if (text.equals("*")) {
                throw new InvalidValueException(allowAll ? "'*' cannot be combined with other " + noun : notAllowed);
            }
            items.add(item.parse(text));
        }
        return of.apply(items);
    }

    private static List<String> splitList(String text) throws InvalidValueException {
        List<String> items = new ArrayList<>();
        String[] parts = text.split(",", -1);
        for (int i = 0; i < parts.length; i++) {
            String item = parts[i].trim();
            if (item.isEmpty()) {
                throw new InvalidValueException("item " + (i + 1) + " of the list is empty (stray comma?)");
            }
            items.add(item);
        }
        return items;
    }

    public static ValueType<InetAddress> ipAddress() {
        return new Simple<>("IP address", IpAddresses::parse, IpAddresses::format);
    }

    /** An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
    public static ValueType<String> hostName() {
        return new Simple<>("host name", ValueTypes::parseHostName);
    }

    static String parseHostName(String raw) throws InvalidValueException {
        if (raw.isEmpty()) {
            throw new InvalidValueException("empty host name");
        }
        if (raw.length() > 253) {
            throw new InvalidValueException("host name is " + raw.length() + " characters long (at most 253)");
        }
        String[] labels = raw.split("\\.", -1);
        for (String label : labels) {
            if (label.isEmpty()) {
                throw new InvalidValueException("'" + raw + "' has an empty label (leading, trailing or double dot)");
            }
            if (label.length() > 63) {
                throw new InvalidValueException("'" + raw + "': label '" + label + "' is longer than 63 characters");
            }
            if (!HOST_LABEL.matcher(label).matches()) {
                throw new InvalidValueException("'" + raw + "': label '" + label
                        + "' may hold only letters, digits and inner hyphens (RFC 1123)");
            }
        }
        return raw;
    }

    /** A list of host names, separated by commas or spaces. */
    public static ValueType<List<String>> hostNameList() {
        return new Simple<>("host names", raw -> {
            List<String> names = new ArrayList<>();
            if (raw.isBlank()) {
                return List.of();
            }
            for (String item : raw.trim().split("[,\\s]+")) {
                names.add(parseHostName(item));
            }
            return List.copyOf(names);
        }, value -> String.join(",", value));
    }

    /** A Kubernetes name: lowercase RFC 1123 label (namespaces) or subdomain (service accounts). */
    public static ValueType<String> kubernetesName(boolean subdomain) {
        int max = subdomain ? 253 : 63;
        return new Simple<>(subdomain ? "Kubernetes name" : "Kubernetes namespace", raw -> {
            if (raw.isEmpty()) {
                throw new InvalidValueException("empty name");
            }
            if (raw.length() > max) {
                throw new InvalidValueException("'" + raw + "' is longer than " + max + " characters");
            }
            for (String label : subdomain ? raw.split("\\.", -1) : new String[] {raw}) {
                if (!DNS_LABEL.matcher(label).matches()) {
                    throw new InvalidValueException("'" + raw
                            + "' must be lowercase letters, digits and inner hyphens"
                            + (subdomain ? " (dots between labels)" : ""));
                }
            }
            return raw;
        });
    }

    /** {@code host:port}, where host is a DNS name, IPv4, or bracketed IPv6. */
    public static ValueType<HostPort> hostPort() {
        return new Simple<>("host:port", raw -> {
            String host;
            String portText;
            if (raw.startsWith("[")) {
                int close = raw.indexOf(']');
                if (close < 0 || close + 1 >= raw.length() || raw.charAt(close + 1) != ':') {
                    throw new InvalidValueException("'" + raw + "' is not [IPv6]:port");
                }
                host = raw.substring(1, close);
                IpAddresses.parse(host);
                portText = raw.substring(close + 2);
            } else {
                int colon = raw.lastIndexOf(':');
                if (colon < 0) {
                    throw new InvalidValueException("'" + raw + "' has no port (expected host:port)");
                }
                host = raw.substring(0, colon);
                portText = raw.substring(colon + 1);
                if (host.indexOf(':') >= 0) {
                    throw new InvalidValueException("'" + raw + "': write an IPv6 host in brackets, [addr]:port");
                }
                if (host.matches("[0-9.]+")) {
                    IpAddresses.parse(host);
                } else {
                    parseHostName(host);
                }
            }
            return new HostPort(host, parsePort(portText));
        });
    }

    /** A user name (as in /etc/passwd) or a numeric uid. */
    public static ValueType<UserRef> user() {
        return new Simple<>("user name or uid", raw -> {
            if (raw.matches("[0-9]{1,10}")) {
                long uid = Long.parseLong(raw);
                if (uid > 4_294_967_294L) {
                    throw new InvalidValueException("uid " + uid + " is out of range (0-4294967294)");
                }
                return UserRef.uid(uid);
            }
            if (!USER_NAME.matcher(raw).matches()) {
                throw new InvalidValueException("'" + raw + "' is not a valid user name or uid");
            }
            return UserRef.named(raw);
        });
    }

    /** Go duration syntax as Istio reads it: {@code 24h}, {@code 90m}, {@code 3600s}, {@code 1h30m}, {@code 500ms}. */
    public static ValueType<Duration> duration(Duration min, Duration max) {
        return new Simple<>("duration", raw -> {
            Duration value = parseDuration(raw);
            if (value.compareTo(min) < 0) {
                throw new InvalidValueException("'" + raw + "' is shorter than the minimum " + formatDuration(min));
            }
            if (value.compareTo(max) > 0) {
                throw new InvalidValueException("'" + raw + "' is longer than the maximum " + formatDuration(max));
            }
            return value;
        }, ValueTypes::formatDuration);
    }

    static Duration parseDuration(String raw) throws InvalidValueException {
        if (raw.isEmpty()) {
            throw new InvalidValueException("empty duration");
        }
        if (raw.startsWith("-")) {
            throw new InvalidValueException("'" + raw + "' is negative");
        }
        if (DECIMAL.matcher(raw).matches()) {
            throw new InvalidValueException("'" + raw + "' has no unit (write e.g. " + raw + "s)");
        }
        Matcher m = DURATION_PART.matcher(raw);
        int position = 0;
        BigDecimal nanos = BigDecimal.ZERO;
        while (position < raw.length()) {
            if (!m.find(position) || m.start() != position) {
                if (raw.matches("[0-9]+d")) {
                    throw new InvalidValueException("'" + raw + "': days are not a unit here; write "
                            + Long.parseLong(raw.substring(0, raw.length() - 1)) * 24 + "h");
                }
                throw new InvalidValueException("'" + raw + "' is not a duration (e.g. 24h, 90m, 3600s, 1h30m)");
            }
            BigDecimal amount = new BigDecimal(m.group(1));
            long unit = switch (m.group(2)) {
                case "ns" -> 1L;
                case "us", "µs" -> 1_000L;
                case "ms" -> 1_000_000L;
                case "s" -> 1_000_000_000L;
                case "m" -> 60_000_000_000L;
                default -> 3_600_000_000_000L;
            };
            nanos = nanos.add(amount.multiply(BigDecimal.valueOf(unit)));
            position = m.end();
        }
        if (nanos.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new InvalidValueException("'" + raw + "' is too long");
        }
        return Duration.ofNanos(nanos.longValue());
    }

    /** Prints as Go would, minus fractional noise: {@code 24h0m0s} becomes {@code 24h}. */
    public static String formatDuration(Duration d) {
        if (d.isZero()) {
            return "0s";
        }
        StringBuilder out = new StringBuilder();
        long hours = d.toHours();
        int minutes = d.toMinutesPart();
        int seconds = d.toSecondsPart();
        int millis = d.toMillisPart();
        if (hours > 0) {
            out.append(hours).append('h');
        }
        if (minutes > 0) {
            out.append(minutes).append('m');
        }
        if (seconds > 0 || (millis > 0 && out.length() > 0)) {
            out.append(seconds);
            if (millis > 0) {
                out.append('.').append(String.format(Locale.ROOT, "%03d", millis).replaceAll("0+$", ""));
            }
            out.append('s');
        } else if (millis > 0) {
            out.append(millis).append("ms");
        }
        if (out.length() == 0) {
            out.append(d.toNanos()).append("ns");
        }
        return out.toString();
    }

    /** A decimal fraction in [0, 1]. */
    public static ValueType<Double> ratio() {
        return new Simple<>("ratio 0-1", raw -> {
            if (!DECIMAL.matcher(raw).matches()) {
                throw new InvalidValueException("'" + raw + "' is not a decimal number between 0 and 1");
            }
            BigDecimal value = new BigDecimal(raw);
            if (value.compareTo(BigDecimal.ONE) > 0) {
                throw new InvalidValueException(raw + " is larger than 1 (a ratio is between 0 and 1)");
            }
            return value.doubleValue();
        });
    }

    /**
     * A file system path. Relative paths (Istio writes {@code ./etc/certs}) are relative to the agent's working
     * directory, which the systemd unit sets to / as Istio's VM scripts assumed.
     */
    public static ValueType<Path> path() {
        return new Simple<>("path", raw -> {
            if (raw.isEmpty()) {
                throw new InvalidValueException("empty path");
            }
            if (raw.indexOf('\0') >= 0) {
                throw new InvalidValueException("path contains a NUL byte");
            }
            return Path.of(raw).normalize();
        });
    }

    /** A JSON object (ISTIO_METAJSON_* values). */
    public static ValueType<ObjectNode> jsonObject() {
        return new Simple<>("JSON object", raw -> {
            JsonNode node;
            try {
                node = JSON.readTree(raw);
            } catch (JsonProcessingException e) {
                throw new InvalidValueException("not valid JSON: " + e.getOriginalMessage()
                        + " (column " + e.getLocation().getColumnNr() + ")");
            }
            if (!(node instanceof ObjectNode object)) {
                throw new InvalidValueException("must be a JSON object ({...})");
            }
            refuseControlCharacters(object, "");
            return object;
        }, ObjectNode::toString);
    }

    /**
     * JSON escapes ({@code \n}, {@code \u001b}) decode to control characters that the file's own text may not carry;
     * they are refused in every name and string, named by the JSON pointer of where they are.
     */
    private static void refuseControlCharacters(JsonNode node, String pointer) throws InvalidValueException {
        if (node.isTextual()) {
            refuseControl(node.textValue(), pointer.isEmpty() ? "/" : pointer, "string");
        } else if (node.isObject()) {
            for (var fields = node.fields(); fields.hasNext(); ) {
                var field = fields.next();
                String at = pointer + "/" + field.getKey().replace("~", "~0").replace("/", "~1");
                refuseControl(field.getKey(), at, "name");
                refuseControlCharacters(field.getValue(), at);
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                refuseControlCharacters(node.get(i), pointer + "/" + i);
            }
        }
    }

    private static void refuseControl(String text, String pointer, String what) throws InvalidValueException {
        int at = VisibleText.firstControl(text);
        if (at >= 0) {
            throw new InvalidValueException("the JSON " + what + " at " + VisibleText.escape(pointer) + " contains "
                    + VisibleText.describe(text.charAt(at)) + " (from an escape); control characters are not "
                    + "allowed");
        }
    }
}
