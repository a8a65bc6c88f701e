package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.Daemon;
import io.istiovm.agent.lifecycle.Plan;
import io.istiovm.agent.lifecycle.StartFailed;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Runs a prepared daemon in the foreground, as systemd expects: SIGTERM (or SIGINT) stops it in order, SIGHUP
 * reloads the configuration ({@code ExecReload}), and the process exits when the daemon has stopped.
 */
final class Foreground {
    private static final Logger LOG = LoggerFactory.getLogger(Foreground.class);

    private Foreground() {
    }

    static void run(Daemon daemon, Plan plan) throws StartFailed, InterruptedException {
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::stop, "agent-shutdown"));
        // The JVM runs each signal's handler on a thread of its own; the daemon serialises reloads itself.
        sun.misc.SignalHandler previous = Signal.handle(new Signal("HUP"), signal -> {
            try {
                daemon.reload();
            } catch (RuntimeException e) {
                LOG.error("reload failed: {}", e.toString());
            }
        });
        // HotSpot installs no handler for a SIGHUP the process inherited as ignored (started under nohup, say):
        // SIGHUP then does nothing at all, which the operator must hear about now, not at the first reload.
        if (previous == sun.misc.SignalHandler.SIG_IGN) {
            LOG.warn("SIGHUP is ignored in this process (inherited, e.g. from nohup): `systemctl reload` and kill -HUP"
                    + " will not reload the configuration; start the agent without ignoring SIGHUP");
        }
        daemon.start(plan);
        LOG.info("started: {}", daemon.state().snapshot().summary());
        daemon.awaitStopped();
    }
}
