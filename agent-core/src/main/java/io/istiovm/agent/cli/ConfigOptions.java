package io.istiovm.agent.cli;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.ConfigProblem;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --config-dir} option shared by every command that reads configuration, and loading with it. */
public final class ConfigOptions {

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
        print(env.err(), e.problems());
        int errors = e.errors().size();
        env.err().println("configuration is invalid: " + errors + (errors == 1 ? " error" : " errors"));
        env.err().flush();
        return new ExitException(e.inputMissing() ? ExitCodes.NO_INPUT : ExitCodes.CONFIG);
    }

    static void print(PrintWriter err, Iterable<ConfigProblem> problems) {
        for (ConfigProblem problem : problems) {
            err.println(problem.render());
        }
        err.flush();
    }
}
