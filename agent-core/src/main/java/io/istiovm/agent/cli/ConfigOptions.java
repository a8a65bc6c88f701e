package io.istiovm.agent.cli;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.ConfigProblem;
import java.io.PrintWriter;
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

    /** Loads the configuration, printing warnings; on failure prints every problem and throws with the exit code. */
    public ConfigLoader.Result load(CliEnvironment env) throws ExitException {
        try {
            ConfigLoader.Result result = new ConfigLoader(env.host())
                    .load(files(env), env.environment(), configDir != null);
            print(env.err(), result.warnings());
            return result;
        } catch (ConfigException e) {
            throw rejected(env, e);
        }
    }

    /**
     * Prints every problem and a count, and returns the exit to throw: 66 when cluster.env is missing, else 78.
     * Also for problems found later with the host's facts in hand (sshd's port in ISTIO_INBOUND_PORTS).
     */
    static ExitException rejected(CliEnvironment env, ConfigException e) {
        Failures.print(env.err(), e);
        return new ExitException(Failures.exitCode(e));
    }

    static void print(PrintWriter err, Iterable<ConfigProblem> problems) {
        Failures.printProblems(err, problems);
    }

    /**
     * Reads the configuration again for a reload, the same files and environment as at start; warnings go to the
     * log, since a reload has no terminal.
     */
    public AgentConfig reload(CliEnvironment env) throws ConfigException {
        ConfigLoader.Result result = new ConfigLoader(env.host()).load(files(env), env.environment(),
                configDir != null);
        result.warnings().forEach(warning -> LOG.warn("reload: {}", warning.render()));
        return result.config();
    }
}
