package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The TCP ports sshd listens on, read from its configuration the way sshd reads it: {@code Port} lines,
 * {@code ListenAddress host:port}, and {@code Include} files (globs, relative to /etc/ssh's directory).
 * Port 22 when the file is absent or names no port, which is sshd's own default.
 */
public final class SshdPorts {
    public static final int DEFAULT_PORT = 22;
    private static final Pattern LISTEN_PORT = Pattern.compile(".*\\]?:([0-9]{1,5})");
    private static final int MAX_INCLUDE_DEPTH = 8;

    private SshdPorts() {
    }

    public static List<Integer> read(Path sshdConfig) throws IOException {
        Set<Integer> ports = new LinkedHashSet<>();
        collect(sshdConfig, sshdConfig.toAbsolutePath().getParent(), ports, 0);
        return ports.isEmpty() ? List.of(DEFAULT_PORT) : List.copyOf(ports);
    }

    private static void collect(Path file, Path baseDir, Set<Integer> ports, int depth) throws IOException {
        if (depth > MAX_INCLUDE_DEPTH) {
            throw new IOException(file + ": Include nested more than " + MAX_INCLUDE_DEPTH + " deep");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return;
        }
        boolean inMatch = false;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split("[\\s=]+", 2);
            String keyword = parts[0].toLowerCase(Locale.ROOT);
            String value = parts.length > 1 ? parts[1].strip() : "";
            switch (keyword) {
                case "match" -> inMatch = true;
                case "port" -> {
                    if (!inMatch) {
                        ports.add(parsePort(file, value));
                    }
                }
                case "listenaddress" -> {
                    if (!inMatch) {
                        listenPort(value.split("\\s+")[0]).ifPresent(p -> ports.add(p));
                    }
                }
                case "include" -> {
                    for (String pattern : value.split("\\s+")) {
                        for (Path included : expand(baseDir, pattern)) {
                            collect(included, baseDir, ports, depth + 1);
                        }
                    }
                }
                default -> {
                }
            }
        }
    }

    /** The port of {@code host:port} or {@code [v6]:port}; none for a bare address (then Port applies). */
    private static Optional<Integer> listenPort(String address) {
        Matcher m = LISTEN_PORT.matcher(address);
        boolean hasPort = address.startsWith("[") ? address.contains("]:") : address.indexOf(':') >= 0
                && address.indexOf(':') == address.lastIndexOf(':');
        if (!hasPort || !m.matches()) {
            return Optional.empty();
        }
        int port = Integer.parseInt(m.group(1));
        return port >= 1 && port <= 65535 ? Optional.of(port) : Optional.empty();
    }

    private static int parsePort(Path file, String value) throws IOException {
        if (!value.matches("[0-9]{1,5}") || Integer.parseInt(value) < 1 || Integer.parseInt(value) > 65535) {
            throw new IOException(file + ": sshd Port '" + value + "' is not a port number");
        }
        return Integer.parseInt(value);
    }

    private static List<Path> expand(Path baseDir, String pattern) throws IOException {
        Path path = baseDir.resolve(pattern);
        Path dir = path.getParent();
        String glob = path.getFileName().toString();
        List<Path> matches = new ArrayList<>();
        if (dir == null || !Files.isDirectory(dir)) {
            return matches;
        }
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir, glob)) {
            stream.forEach(matches::add);
        }
        matches.sort(null);
        return matches;
    }
}
