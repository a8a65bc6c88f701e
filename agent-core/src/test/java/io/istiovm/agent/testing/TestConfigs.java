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

/** Writes a cluster.env into a scratch directory and loads it as the agent would; a config error fails the test. */
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
