package io.istiovm.agent.cli;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFileReader;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.FileTrust;
import io.istiovm.agent.fs.HeldDirectory;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/** The {@code --config-dir} option shared by every command that reads configuration, and loading with it. */
public final class ConfigOptions {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigOptions.class);

    @Option(names = "--config-dir", paramLabel = "DIR",
            description = "Directory holding sidecar.env, cluster.env and the hosts sources "
                    + "(default: ISTIO_SIDECAR_CONFIG / ISTIO_CLUSTER_CONFIG, else /var/lib/istio/envoy).")
    Path configDir;

    public ConfigFiles files(CliEnvironment env) {
        return ConfigFiles.resolve(configDir, env.environment());
    }

    /**
     * Loads the configuration and prints its warnings. An invalid one is thrown, for {@link Failures} to print with
     * every problem and to exit 66 (no cluster.env) or 78.
     */
    public ConfigLoader.Result load(CliEnvironment env) throws ConfigException {
        ConfigLoader.Result result = read(env);
        Failures.printProblems(env.err(), result.warnings());
        return result;
    }

    /**
     * Reads the configuration again for a reload, the same files and environment as at start; warnings go to the
     * log, since a reload has no terminal.
     */
    public AgentConfig reload(CliEnvironment env) throws ConfigException {
        ConfigLoader.Result result = read(env);
        result.warnings().forEach(warning -> LOG.warn("reload: {}", warning.render()));
        return result.config();
    }

    private ConfigLoader.Result read(CliEnvironment env) throws ConfigException {
        return new ConfigLoader(env.host(), ConfigOptions::readBounded, FileTrust.Inspector.SYSTEM,
                env.host().accounts()).load(files(env), env.environment(), configDir != null);
    }

    /** Through the fs layer: a final link refused, a FIFO refused without blocking, at most {@code limit} bytes. */
    private static ConfigFileReader.Content readBounded(Path file, long limit) throws java.io.IOException {
        HeldDirectory.RegularFile read = HeldDirectory.readRegularFile(file, limit);
        return new ConfigFileReader.Content(read.content(), read.uid(), read.mode());
    }
}
