package io.istiovm.agent.lifecycle;

import io.istiovm.agent.metrics.AgentMetrics;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's observable state, the one source for readiness, systemd's STATUS=, health endpoints and metrics:
 * every component's {@link ComponentState}, whether the agent as a whole is running, and whether the last reload
 * was refused. Listeners are told of every change of phase or reason, on the thread that made it, in order.
 */
public final class AgentState {
    private static final Logger LOG = LoggerFactory.getLogger(AgentState.class);

    /** The agent as a whole. */
    public enum Stage { PREPARING, STARTING, RUNNING, STOPPING, STOPPED }

    /** The last reload: when, and why it was refused (empty when it was accepted). */
    public record Reload(Instant at, Optional<String> refused) {
        public Reload {
            Objects.requireNonNull(at, "at");
            Objects.requireNonNull(refused, "refused");
        }

        public boolean accepted() {
            return refused.isEmpty();
        }
    }

    /**
     * One consistent view. {@code ready}: running and every component serving (READY or DEGRADED).
     * {@code reloadRefused}: why the last reload was refused, until a reload succeeds. {@code lastReload}: the
     * last reload, accepted or not (empty before the first).
     */
    public record Snapshot(Instant at, Stage stage, List<ComponentState> components, Optional<String> reloadRefused,
                           Optional<Reload> lastReload) {
        public Snapshot {
            components = List.copyOf(components);
            Objects.requireNonNull(reloadRefused, "reloadRefused");
            Objects.requireNonNull(lastReload, "lastReload");
        }

        /** A snapshot of an agent that has not reloaded yet. */
        public Snapshot(Instant at, Stage stage, List<ComponentState> components, Optional<String> reloadRefused) {
            this(at, stage, components, reloadRefused, Optional.empty());
        }

        public boolean ready() {
            return stage == Stage.RUNNING && components.stream().allMatch(c -> c.phase().serving());
        }

        /** The components that are not serving, each with its reason. */
        public List<ComponentState> notReady() {
            return components.stream().filter(c -> !c.phase().serving()).toList();
        }

        /** One line: "ready" or what is not, for systemd's STATUS= and logs. */
        public String summary() {
            List<String> parts = new ArrayList<>();
            if (ready()) {
                parts.add("ready");
            } else if (stage != Stage.RUNNING) {
                parts.add(stage.name().toLowerCase(java.util.Locale.ROOT));
            }
            for (ComponentState c : components) {
                if (c.phase() != Phase.READY) {
                    parts.add(c.describe());
                }
            }
            reloadRefused.ifPresent(reason -> parts.add("reload refused: " + reason));
            return String.join("; ", parts);
        }

        public Optional<ComponentState> component(String name) {
            return components.stream().filter(c -> c.name().equals(name)).findFirst();
        }
    }

    private final Clock clock;
    private final AgentMetrics metrics;
    private final Map<String, StatusReporter> reporters = new LinkedHashMap<>();
    private final CopyOnWriteArrayList<Consumer<Snapshot>> listeners = new CopyOnWriteArrayList<>();
    /** Serialises notifications, so that every listener sees the snapshots in the order they were taken. */
    private final Object notifying = new Object();
    private Stage stage = Stage.PREPARING;
    private String reloadRefused;
    private Reload lastReload;

    /** The agent's state, counting into {@code metrics} (the process's one registry). */
    public AgentState(Clock clock, AgentMetrics metrics) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
    }

    /** With metrics of its own (tests, one-shot commands). */
    public AgentState(Clock clock) {
        this(clock, new AgentMetrics("test"));
    }

    public Clock clock() {
        return clock;
    }

    /** Where components count what only they see; what the snapshot shows is derived from it, not counted. */
    public AgentMetrics metrics() {
        return metrics;
    }

    /** The reporter of component {@code name}, made on first use; the order of first use is the order shown. */
    public StatusReporter reporter(String name) {
        synchronized (this) {
            StatusReporter existing = reporters.get(name);
            if (existing != null) {
                return existing;
            }
            StatusReporter created = new StatusReporter(name, clock, this::changed);
            reporters.put(name, created);
            return created;
        }
    }

    /** Forgets a component that a reload removed. */
    void remove(String name) {
        synchronized (this) {
            reporters.remove(name);
        }
        changed();
    }

    /** Orders the components as the engine runs them. */
    void order(List<String> names) {
        synchronized (this) {
            Map<String, StatusReporter> ordered = new LinkedHashMap<>();
            for (String name : names) {
                ordered.put(name, reporter(name));
            }
            reporters.forEach(ordered::putIfAbsent);
            reporters.clear();
            reporters.putAll(ordered);
        }
    }

    void stage(Stage next) {
        synchronized (this) {
            if (stage == next) {
                return;
            }
            stage = next;
        }
        changed();
    }

    /** A reload ended: accepted ({@code refused} empty) or refused, and why. */
    void reloaded(Optional<String> refused) {
        Optional<String> line = refused.map(StatusReporter::oneLine);
        metrics.reloaded(line.isEmpty() ? AgentMetrics.ReloadOutcome.ACCEPTED : AgentMetrics.ReloadOutcome.REFUSED);
        synchronized (this) {
            reloadRefused = line.orElse(null);
            lastReload = new Reload(clock.instant(), line);
        }
        changed();
    }

    public Snapshot snapshot() {
        List<StatusReporter> all;
        Stage current;
        String refused;
        Reload reload;
        synchronized (this) {
            all = List.copyOf(reporters.values());
            current = stage;
            refused = reloadRefused;
            reload = lastReload;
        }
        List<ComponentState> states = all.stream().map(StatusReporter::current).toList();
        return new Snapshot(clock.instant(), current, states, Optional.ofNullable(refused), Optional.ofNullable(reload));
    }

    /** Calls {@code listener} with the current snapshot now and after every change; returns a handle to remove it. */
    public Runnable addListener(Consumer<Snapshot> listener) {
        listeners.add(listener);
        listener.accept(snapshot());
        return () -> listeners.remove(listener);
    }

    private void changed() {
        if (listeners.isEmpty()) {
            return;
        }
        synchronized (notifying) {
            Snapshot snapshot = snapshot();
            for (Consumer<Snapshot> listener : listeners) {
                try {
                    listener.accept(snapshot);
                } catch (RuntimeException e) {
                    LOG.warn("state listener failed: {}", e.toString());
                }
            }
        }
    }
}
