package io.istiovm.agent.hosts;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.testing.CliRun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A scratch configuration directory and hosts file for hosts tests: {@code config/} (cluster.env, hosts, hosts.d/)
 * and {@code etc/hosts}, under a fresh temporary directory that {@link #close()} removes. cluster.env always points
 * VM_AGENT_HOSTS_FILE at the scratch hosts file, so nothing here can reach the real /etc/hosts.
 */
public final class HostsScratch implements AutoCloseable {
    /** A typical Debian /etc/hosts with what tends to break naive editors: tabs, IPv6, comments, CRLF, no final LF. */
    public static final String TYPICAL_HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tvm-1.example.com\tvm-1\n\n"
            + "# The following lines are desirable for IPv6 capable hosts\r\n::1     localhost ip6-localhost ip6-loopback\n"
            + "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n# kept: ümlaut comment, no final newline";

    private final Path root;
    private final Path config;
    private final Path target;
    private final List<String> clusterEnv = new ArrayList<>();

    private HostsScratch(Path root) throws IOException {
        this.root = root;
        this.config = Files.createDirectories(root.resolve("config"));
        this.target = Files.createDirectories(root.resolve("etc")).resolve("hosts");
        Files.writeString(target, TYPICAL_HOSTS, StandardCharsets.UTF_8);
        clusterEnv("VM_AGENT_HOSTS_FILE=" + target);
    }

    public static HostsScratch create() throws IOException {
        return new HostsScratch(Files.createTempDirectory("hosts-test"));
    }

    public Path root() {
        return root;
    }

    public Path config() {
        return config;
    }

    public Path dropIns() {
        return config.resolve("hosts.d");
    }

    public Path target() {
        return target;
    }

    /** Sets {@code KEY=value} lines in cluster.env: a key already there keeps its line, a new one is appended. */
    public HostsScratch clusterEnv(String... lines) throws IOException {
        for (String line : lines) {
            String key = line.substring(0, line.indexOf('=') + 1);
            int existing = clusterEnv.stream().map(l -> l.startsWith(key)).toList().indexOf(true);
            if (existing < 0) {
                clusterEnv.add(line);
            } else {
                clusterEnv.set(existing, line);
            }
        }
        Files.write(config.resolve("cluster.env"), clusterEnv, StandardCharsets.UTF_8);
        return this;
    }

    /** Writes the {@code hosts} file of the configuration directory. */
    public HostsScratch hostsSource(String text) throws IOException {
        Files.writeString(config.resolve("hosts"), text, StandardCharsets.UTF_8);
        return this;
    }

    /** Writes {@code hosts.d/<name>}, atomically (temporary file and rename), as a configuration tool would. */
    public Path dropIn(String name, String text) throws IOException {
        return dropIn(name, text.getBytes(StandardCharsets.UTF_8));
    }

    public Path dropIn(String name, byte[] bytes) throws IOException {
        Path file = Files.createDirectories(dropIns()).resolve(name);
        Path temporary = dropIns().resolve("." + name + ".tmp");
        Files.write(temporary, bytes);
        Files.move(temporary, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return file;
    }

    public byte[] targetBytes() {
        try {
            return Files.readAllBytes(target);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String targetText() {
        return new String(targetBytes(), StandardCharsets.UTF_8);
    }

    /** The configuration the agent would load from this directory now (cluster.env as written). */
    public AgentConfig load() {
        try {
            return new ConfigLoader(CliRun.TEST_HOST).load(ConfigFiles.inDirectory(config), Map.of(), true).config();
        } catch (ConfigException e) {
            throw new IllegalStateException("cluster.env is invalid: " + e.problems(), e);
        }
    }

    /** Runs {@code istio-vm-agent ARGS --config-dir <config>} in-process, with an empty process environment. */
    public CliRun cli(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--config-dir");
        all.add(config.toString());
        return CliRun.run(all.toArray(String[]::new));
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
