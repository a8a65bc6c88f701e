package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.Lifecycle;
import io.istiovm.agent.lifecycle.Plan;
import io.istiovm.agent.lifecycle.PrepareFailed;
import io.istiovm.agent.lifecycle.StartFailed;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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

    /** A daemon whose state counts into the assembly's metrics, which the status server scrapes. */
    public Daemon(Assembly assembly, ConfigSource source, Function<AgentConfig, List<Component>> components) {
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
                LOG.info("state: {}", summary);
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

    /** Starts the prepared components; from here on every change of the state's summary is logged. */
    public void start(Plan plan) throws StartFailed {
        lifecycle.state().addListener(new StateLog()::changed);
        lifecycle.start(plan);
    }

    /**
     * Re-reads the configuration and reconciles every component to it. An unreadable or invalid configuration, or
     * a component that refuses to prepare, changes nothing: every problem is logged with its file, line and key,
     * and the state says "reload refused" until a reload is accepted.
     */
    public Lifecycle.ReloadResult reload() {
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

    public void stop() {
        lifecycle.stop();
    }

    public void awaitStopped() throws InterruptedException {
        lifecycle.awaitStopped();
    }
}
