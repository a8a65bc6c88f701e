package io.istiovm.agent.cli;

import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.daemon.Agent;
import io.istiovm.agent.daemon.Components;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run the agent in the foreground until SIGTERM (what the systemd unit starts).")
final class RunCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);
    private final CliEnvironment env;

    @Mixin
    ConfigOptions config;

    @Option(names = "--dry-run", description = "Load and validate everything, print what would be done, change "
            + "nothing, and exit.")
    boolean dryRun;

    RunCommand(CliEnvironment env) {
        this.env = env;
    }

    @Override
    public Integer call() throws ExitException {
        ConfigLoader.Result loaded = config.load(env);
        Agent agent = new Agent(loaded.config(), Components.forConfig(loaded.config()));
        if (dryRun) {
            agent.describe(env.out());
            env.out().flush();
            return ExitCodes.OK;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(agent::stop, "agent-shutdown"));
        LOG.info("configuration loaded from {} ({} warning(s))", loaded.config().files().clusterEnv(),
                loaded.warnings().size());
        try {
            agent.start();
        } catch (Agent.PrepareFailed failed) {
            return report(failed.failures());
        } catch (IllegalStateException e) {
            LOG.error("the agent could not start: {}", e.getCause() == null ? e : e.getCause());
            throw new ExitException(ExitCodes.OS_ERROR);
        }
        agent.awaitStopped();
        return ExitCodes.OK;
    }

    /**
     * Prints why components refused to prepare; the exit code names the most basic kind of problem: bad input
     * (some of which shows only with the host's facts in hand, such as sshd's port in ISTIO_INBOUND_PORTS) before
     * an unusable identity before a system failure.
     */
    private int report(List<Exception> failures) {
        int code = ExitCodes.OS_ERROR;
        for (Exception failure : failures) {
            if (failure instanceof ConfigException problems) {
                ConfigOptions.print(env.err(), problems.problems());
                code = ExitCodes.CONFIG;
            } else if (failure instanceof InvalidIdentityException identity) {
                identity.problems().forEach(problem -> env.err().println("error: " + problem));
                code = code == ExitCodes.CONFIG ? code : ExitCodes.DATA;
            } else {
                env.err().println("error: " + failure.getMessage());
            }
        }
        env.err().flush();
        return code;
    }
}
