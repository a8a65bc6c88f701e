package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.Daemon;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.lifecycle.Plan;
import io.istiovm.agent.lifecycle.PrepareFailed;
import io.istiovm.agent.status.StatusServer;
import io.istiovm.agent.systemd.NotifySettings;
import io.istiovm.agent.systemd.SystemdNotify;
import java.net.InetAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run the agent in the foreground until SIGTERM (what the systemd unit starts); SIGHUP "
                + "re-reads the configuration and applies what changed.",
            "With --dry-run: prepare exactly as run does, print the plan, change nothing, and exit with the code "
                + "run would have exited with."})
final class RunCommand extends ConfiguredCommand {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

    @Option(names = "--dry-run", description = "Load and validate everything, print what would be done, change "
            + "nothing, and exit.")
    boolean dryRun;

    RunCommand(CliEnvironment env) {
        super(env);
    }

    @Override
    public Integer call() throws Exception {
        ConfigLoader.Result loaded = config.load(env);
        Assembly assembly = env.assembly();
        Daemon daemon = new Daemon(assembly, () -> config.reload(env), assembly::components);
        if (dryRun) {
            env.out().println("# configuration: " + loaded.config().files().clusterEnv());
            try {
                daemon.prepare(loaded.config()).describe(env.out());
            } catch (PrepareFailed refused) {
                // What could be planned is shown; the exit code and the errors are those run would give.
                refused.partialPlan().describe(env.out());
                throw refused;
            }
            return ExitCodes.OK;
        }
        Plan plan = daemon.prepare(loaded.config());
        LOG.info("configuration loaded from {} ({} warning(s))", loaded.config().files().clusterEnv(),
                loaded.warnings().size());
        // Under systemd ($NOTIFY_SOCKET) READY=, STATUS=, the watchdog, RELOADING= and STOPPING=; else nothing.
        NotifySettings bounds = assembly.notifySettings(loaded.config());
        daemon.notifySystemd(SystemdNotify.fromEnvironment(env.environment(), bounds, assembly.runtime().clock()));
        // Up before the components start, so that Envoy's readiness listener and the mesh's probes see 503 (with
        // what is not ready) rather than a refused connection while the agent starts; down after everything stopped.
        try (StatusServer status = StatusServer.start(daemon.state(), assembly.envoyStats(loaded.config()),
                bounds::staleAfter, InetAddress.getLoopbackAddress(), assembly.statusPort(loaded.config()))) {
            Foreground.run(daemon, plan);
        }
        return ExitCodes.OK;
    }
}
