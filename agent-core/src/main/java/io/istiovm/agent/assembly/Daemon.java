package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.Lifecycle;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Plan;
import io.istiovm.agent.lifecycle.PrepareFailed;
import io.istiovm.agent.lifecycle.StartFailed;
import io.istiovm.agent.systemd.SystemdNotify;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * The running agent: the lifecycle engine over the components the assembly makes from the configuration, and
 * reload (re-read the configuration files, prepare everything again, reconcile or refuse). {@code run} and
 * {@code hosts watch} both run one; they differ only in which components they ask for.
 */
public final class Daemon {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    /** Reads the configuration again (sidecar.env, cluster.env, the environment), as at start. */
    @FunctionalInterface
    public interface ConfigSource {
        AgentConfig load() throws ConfigException;
    }

    private final ConfigSource source;
    private final Function<AgentConfig, List<Component>> components;
    private final Lifecycle lifecycle;
    private final AgentRuntime runtime;
    /** Told of every change, reload and the stop; set before {@link #start}, when run under systemd. */
    private volatile SystemdNotify systemd;

    /** A daemon whose state counts into the assembly's metrics, which the status server scrapes. */
    public Daemon(Assembly assembly, ConfigSource source, Function<AgentConfig, List<Component>> components) {
        this.runtime = assembly.runtime();
        this.source = Objects.requireNonNull(source, "source");
        this.components = Objects.requireNonNull(components, "components");
        this.lifecycle = new Lifecycle(new AgentState(assembly.runtime().clock(), assembly.metrics()),
                assembly.runtime().loops());
    }

    /** Logs the state's one-line summary whenever it changes: the operator's record of readiness and why not. */
    private static final class StateLog {
        private String last = "";

        synchronized void changed(AgentState.Snapshot snapshot) {
            String summary = snapshot.summary();
            if (!summary.equals(last)) {
                last = summary;
                // journalctl -p warning shows a component that stopped serving; a ready or starting state is info.
                boolean failing = snapshot.components().stream().anyMatch(c -> c.phase() == Phase.FAILED);
                LOG.atLevel(failing ? Level.WARN : Level.INFO).log("state: {}", summary);
            }
        }
    }

    public AgentState state() {
        return lifecycle.state();
    }

    /** What {@code run} and {@code run --dry-run} both do first: every component prepared, nothing changed. */
    public Plan prepare(AgentConfig config) throws PrepareFailed {
        return lifecycle.prepare(components.apply(config));
    }

    /**
     * Tells systemd (sd_notify) about this daemon from {@link #start} on: READY/STATUS from the state, the
     * watchdog, RELOADING around {@link #reload}, STOPPING before {@link #stop}. Call before {@link #start}.
     */
    public void notifySystemd(SystemdNotify notify) {
        this.systemd = Objects.requireNonNull(notify, "notify");
    }

    /** Starts the prepared components; from here on every change of the state's summary is logged. */
    public void start(Plan plan) throws StartFailed {
        lifecycle.state().addListener(new StateLog()::changed);
        SystemdNotify notify = systemd;
        if (notify != null) {
            notify.attach(lifecycle.state(), runtime.loops());
        }
        lifecycle.start(plan);
    }

    /**
     * Re-reads the configuration and reconciles every component to it. An unreadable or invalid configuration, or
     * a component that refuses to prepare, changes nothing: every problem is logged with its file, line and key,
     * and the state says "reload refused" until a reload is accepted.
     */
    public Lifecycle.ReloadResult reload() {
        SystemdNotify notify = systemd;
        if (notify == null) {
            return reloadNow();
        }
        notify.reloading();
        try {
            return reloadNow();
        } finally {
            // Also after a refusal or a failure: the agent keeps serving what it had, and STATUS says so.
            notify.reloaded();
        }
    }

    private Lifecycle.ReloadResult reloadNow() {
        LOG.info("reload: reading the configuration again");
        Lifecycle.ReloadResult result;
        try {
            result = lifecycle.reload(components.apply(source.load()));
        } catch (ConfigException e) {
            result = lifecycle.refuseReload(new PrepareFailed(List.of(new PrepareFailed.Failure("configuration", e))));
        }
        if (result.refused().isPresent()) {
            for (PrepareFailed.Failure failure : result.refused().get().failures()) {
                log(failure);
            }
            LOG.error("reload refused, running on the previous configuration");
        } else {
            result.restartsNeeded().forEach(line -> LOG.warn("reload: needs a restart to apply: {}", line));
            LOG.info("reload: done");
        }
        return result;
    }

    /** One refusal: a configuration's every problem on a line of its own, with file, line and key. */
    private static void log(PrepareFailed.Failure failure) {
        if (failure.cause() instanceof ConfigException config) {
            for (ConfigProblem problem : config.problems()) {
                if (problem.isError()) {
                    LOG.error("reload: {}: {}", failure.component(), problem.render());
                } else {
                    LOG.warn("reload: {}: {}", failure.component(), problem.render());
                }
            }
        } else {
            LOG.error("reload: {}: {}", failure.component(), failure.cause().getMessage());
        }
    }

    /** Stops every component in reverse order (STOPPING=1 to systemd first); later calls do nothing more. */
    public void stop() {
        SystemdNotify notify = systemd;
        if (notify != null) {
            notify.stopping();
        }
        try {
            lifecycle.stop();
        } finally {
            if (notify != null) {
                notify.close();
            }
        }
    }

    public void awaitStopped() throws InterruptedException {
        lifecycle.awaitStopped();
    }
}
