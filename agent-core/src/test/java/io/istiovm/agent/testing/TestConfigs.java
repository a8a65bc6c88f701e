package io.istiovm.agent.testing;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Loads an {@link AgentConfig} from cluster.env text the way the daemon does, on the fixed {@link CliRun#TEST_HOST}. */
public final class TestConfigs {
    private TestConfigs() {
    }

    /** Writes {@code clusterEnv} into {@code dir}/cluster.env and loads it; a config error fails the test. */
    public static AgentConfig load(Path dir, String clusterEnv) {
        try {
            Files.writeString(dir.resolve("cluster.env"), clusterEnv);
            return new ConfigLoader(CliRun.TEST_HOST).load(ConfigFiles.inDirectory(dir), Map.of(), true).config();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (io.istiovm.agent.config.ConfigException e) {
            throw new AssertionError("test configuration is invalid: " + e.problems(), e);
        }
    }
}
