package io.istiovm.agent.layout;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Which package of the agent may use which: the layering README's layout section shows. Every mention of
 * {@code io.istiovm.agent.<package>} in the main sources counts, imports and fully qualified names alike, so a
 * cycle cannot hide behind a qualified name.
 */
class PackageLayeringTest {
    private static final Path MAIN = Path.of("src/main/java/io/istiovm/agent");
    private static final Pattern REFERENCE = Pattern.compile("io\\.istiovm\\.agent\\.([a-z]+)\\b");

    /** Each package and the packages it may use; a package not listed here may not exist. */
    private static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
            Map.entry("config", Set.of()),
            Map.entry("lifecycle", Set.of("metrics")),
            Map.entry("metrics", Set.of()),
            Map.entry("fs", Set.of()),
            Map.entry("unix", Set.of()),
            // sd_notify: the agent's state told to systemd over a unix datagram socket.
            Map.entry("systemd", Set.of("lifecycle", "unix")),
            // The slf4j backend: journald's native protocol or plain stderr lines.
            Map.entry("logging", Set.of("unix")),
            Map.entry("hosts", Set.of("config", "lifecycle", "metrics", "fs")),
            Map.entry("netfilter", Set.of("config", "lifecycle", "metrics")),
            Map.entry("certs", Set.of("config", "lifecycle", "fs")),
            Map.entry("ca", Set.of("certs", "config", "lifecycle", "metrics", "fs")),
            Map.entry("sds", Set.of("certs", "config", "lifecycle", "fs")),
            Map.entry("envoy", Set.of("sds", "certs", "config", "lifecycle", "metrics", "fs")),
            Map.entry("status", Set.of("lifecycle", "metrics")),
            Map.entry("assembly", Set.of("hosts", "netfilter", "certs", "ca", "sds", "envoy", "status", "metrics",
                    "config", "lifecycle", "fs", "unix", "systemd")),
            Map.entry("cli", Set.of("assembly", "status", "metrics", "hosts", "netfilter", "certs", "ca", "sds",
                    "envoy", "config", "lifecycle", "fs", "unix", "systemd", "logging")));

    @Test
    void everyPackageUsesOnlyThePackagesBelowIt() throws IOException {
        Map<String, Set<String>> used = uses();
        assertThat(used.keySet()).as("the agent's packages").isSubsetOf(ALLOWED.keySet());
        Map<String, Set<String>> forbidden = new TreeMap<>();
        used.forEach((pkg, uses) -> {
            Set<String> wrong = new TreeSet<>(uses);
            wrong.removeAll(ALLOWED.get(pkg));
            wrong.remove(pkg);
            if (!wrong.isEmpty()) {
                forbidden.put(pkg, wrong);
            }
        });
        assertThat(forbidden).as("package -> packages it uses but may not").isEmpty();
    }

    @Test
    void noAreaReadsTheWholeConfiguration() throws IOException {
        Map<String, Set<String>> readers = new TreeMap<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            files.filter(f -> f.toString().endsWith(".java")).forEach(file -> {
                String pkg = MAIN.relativize(file).getName(0).toString();
                if (Set.of("config", "assembly", "cli").contains(pkg)) {
                    return;
                }
                String text = read(file);
                if (text.contains("config.AgentConfig") || text.contains("config.ConfigKeys")) {
                    readers.computeIfAbsent(pkg, k -> new TreeSet<>()).add(file.getFileName().toString());
                }
            });
        }
        assertThat(readers).as("area classes that read AgentConfig or ConfigKeys instead of their settings")
                .isEmpty();
    }

    private static Map<String, Set<String>> uses() throws IOException {
        Map<String, Set<String>> uses = new TreeMap<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            files.filter(f -> f.toString().endsWith(".java")).forEach(file -> {
                String pkg = MAIN.relativize(file).getName(0).toString();
                Set<String> mine = uses.computeIfAbsent(pkg, k -> new TreeSet<>());
                Matcher m = REFERENCE.matcher(read(file));
                while (m.find()) {
                    mine.add(m.group(1));
                }
            });
        }
        return uses;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
