package io.istiovm.agent.hosts;

import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.ValueTypes;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The rules for every text that reaches the hosts file: host names (RFC 1123), the Kubernetes names and namespaces
 * of ServiceEntries and the names of hosts.d files, which all end up in a line or its comment. A newline, '#', a
 * blank or a control character in any of them would start another line or field (issue 10: a ServiceEntry named
 * {@code "x\n10.66.66.66 istiod.istio-system.svc\n#"} wrote a line of its own), and any byte outside ASCII has no
 * business in a resolver's file. Each check gives the reason a value is refused, or nothing; a reason never holds
 * the raw value's control characters (they are shown as {@code \xNN}), so a message cannot disturb a terminal.
 */
final class HostsNames {
    /** What a hosts.d file may be called: letters, digits and {@code . _ - + @}, as Debian's run-parts allows. */
    private static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9._+@-]+");
    static final int MAX_FILE_NAME = 255;

    private HostsNames() {
    }

    /** Why {@code host} cannot be written to the hosts file, if it cannot. */
    static Optional<String> hostNameProblem(String host) {
        return unprintable(host).map(reason -> reason + " (RFC 1123: letters, digits, inner hyphens, dots between "
                + "labels)").or(() -> {
            try {
                ValueTypes.hostName().parse(host);
                return Optional.empty();
            } catch (InvalidValueException e) {
                return Optional.of(e.getMessage());
            }
        });
    }

    /**
     * Why {@code name} is not a Kubernetes object name (DNS-1123 subdomain, at most 253 characters) or, with
     * {@code namespace}, a namespace (DNS-1123 label, at most 63), if it is not.
     */
    static Optional<String> kubernetesNameProblem(String name, boolean namespace) {
        return unprintable(name).map(reason -> reason + (namespace
                ? " (a namespace is a DNS-1123 label: lowercase letters, digits and inner hyphens, at most 63)"
                : " (a name is a DNS-1123 subdomain: lowercase letters, digits, inner hyphens, dots between labels, "
                + "at most 253)")).or(() -> {
            int max = namespace ? 63 : 253;
            if (name.length() > max) {
                return Optional.of("is " + name.length() + " characters long (at most " + max + ")");
            }
            try {
                ValueTypes.kubernetesName(!namespace).parse(name);
                return Optional.empty();
            } catch (InvalidValueException e) {
                return Optional.of(e.getMessage());
            }
        });
    }

    /** Why {@code fileName} may not name a hosts source, if it may not; the reason quotes it escaped. */
    static Optional<String> fileNameProblem(String fileName) {
        Optional<String> unprintable = unprintable(fileName);
        if (unprintable.isPresent() || !FILE_NAME.matcher(fileName).matches()
                || fileName.length() > MAX_FILE_NAME) {
            return Optional.of("file name " + quoted(fileName) + " " + unprintable.orElse("has characters other than "
                    + "letters, digits and . _ - + @") + "; a hosts source's name goes into the hosts file's "
                    + "comments, rename the file");
        }
        return Optional.empty();
    }

    /**
     * The first character that is not printable ASCII, described (a control character as {@code \xNN}, anything
     * else by its code point), or nothing when there is none.
     */
    static Optional<String> unprintable(String text) {
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            if (c < 0x20 || c == 0x7f) {
                return Optional.of(String.format("contains the control character \\x%02x at position %d", c, i + 1));
            }
            if (c > 0x7e) {
                return Optional.of(String.format("contains the non-ASCII character U+%04X at position %d", c, i + 1));
            }
            i += Character.charCount(c);
        }
        return Optional.empty();
    }

    /**
     * The last guard before text is rendered into the file (the sources report bad input with file and line first):
     * {@code name} must be a host name.
     */
    static String requireHostName(String name) {
        hostNameProblem(name).ifPresent(problem -> {
            throw new IllegalArgumentException("not a host name for a hosts file: " + problem);
        });
        return name;
    }

    /** The last guard for a comment's text: printable ASCII, so it can neither end its line nor hold a control byte. */
    static String requireComment(String text) {
        unprintable(text).ifPresent(problem -> {
            throw new IllegalArgumentException("comment " + quoted(text) + " " + problem
                    + "; it would go into the hosts file");
        });
        return text;
    }

    /** {@code text} in single quotes, control and non-ASCII characters as escapes. */
    static String quoted(String text) {
        return "'" + escaped(text, true).replace("'", "\\'") + "'";
    }

    /**
     * {@code text} for a terminal: control characters (and a backslash, so the result is unambiguous) as escapes,
     * and with {@code nonAscii} every character beyond ASCII as {@code \\u{XXXX}}.
     */
    static String escaped(String text, boolean nonAscii) {
        StringBuilder out = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0) {
                out.append(String.format("\\x%02x", c));
            } else if (nonAscii && c > 0x7e) {
                out.append(String.format("\\u{%04X}", c));
            } else if (c == '\\') {
                out.append("\\\\");
            } else {
                out.appendCodePoint(c);
            }
        });
        return out.toString();
    }
}
