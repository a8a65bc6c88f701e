package io.istiovm.agent.testing;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.HostFacts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The one configuration fixture: a cluster.env loaded as the agent would, from values in memory ({@link #inMemory},
 * nothing written) or from a file it writes into a scratch directory ({@link #load}, for tests of the command
 * line and of reading files). A configuration error fails the test.
 */
public final class TestConfigs {
    private TestConfigs() {
    }

    /** The cluster.env text for {@code values} (single-quoted, one per line, in the map's order). */
    public static String clusterEnv(Map<String, String> values) {
        return values.entrySet().stream().map(e -> e.getKey() + "='" + e.getValue() + "'\n")
                .collect(Collectors.joining());
    }

    /** Loads {@code values} as cluster.env on a host named vm-1 with the address 10.0.0.7. */
    public static AgentConfig load(Path configDir, Map<String, String> values) {
        try {
            return load(configDir, clusterEnv(values),
                    HostFacts.fixed("vm-1", List.of(InetAddress.getByName("10.0.0.7"))));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code values} as cluster.env of {@code configDir} (which need not exist; nothing is written or read), on the
     * fixed {@link CliRun#TEST_HOST}. The area tests map it to their settings through the assembly.
     */
    public static AgentConfig inMemory(Path configDir, Map<String, String> values) {
        return inMemory(configDir, values.isEmpty() ? "# defaults\n" : clusterEnv(values));
    }

    /** {@code clusterEnv} as the text of cluster.env of {@code configDir}; nothing is written or read. */
    public static AgentConfig inMemory(Path configDir, String clusterEnv) {
        try {
            return new ConfigLoader(CliRun.TEST_HOST).loadInMemory(ConfigFiles.inDirectory(configDir), clusterEnv)
                    .config();
        } catch (ConfigException e) {
            throw new IllegalArgumentException("test configuration is invalid: " + e.problems(), e);
        }
    }

    /** Loads {@code clusterEnv} as written, on the fixed {@link CliRun#TEST_HOST}. */
    public static AgentConfig load(Path configDir, String clusterEnv) {
        return load(configDir, clusterEnv, CliRun.TEST_HOST);
    }

    private static AgentConfig load(Path configDir, String clusterEnv, HostFacts host) {
        try {
            Files.createDirectories(configDir);
            Files.writeString(configDir.resolve("cluster.env"), clusterEnv, StandardCharsets.UTF_8);
            return new ConfigLoader(host).load(ConfigFiles.inDirectory(configDir), Map.of(), true).config();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("test configuration is invalid: " + e.problems(), e);
        }
    }
}
