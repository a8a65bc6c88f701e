package io.istiovm.agent.lifecycle;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine that runs components, knowing nothing of what they do (like Guava's ServiceManager): prepare them
 * all (every refusal reported, nothing changed), start them in order (a failure stops those already started, in
 * reverse), reconcile them to a reloaded configuration, stop them in reverse order exactly once. Every step shows
 * in the {@link AgentState}.
 */
public final class Lifecycle {
    private static final Logger LOG = LoggerFactory.getLogger(Lifecycle.class);

    /**
     * What a reload did. {@code refused}: nothing was changed, because these components could not prepare.
     * Otherwise {@code outcomes} says per component what reconciling did, and {@code failures} names the
     * components whose change failed to apply (each keeps what it had).
     */
    public record ReloadResult(Optional<PrepareFailed> refused, Map<String, Reconciled> outcomes,
                               Map<String, Exception> failures) {
        public ReloadResult {
            Objects.requireNonNull(refused, "refused");
            outcomes = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(outcomes));
            failures = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(failures));
        }

        public boolean accepted() {
            return refused.isEmpty();
        }

        /** The changes that could not be applied live, one line each. */
        public List<String> restartsNeeded() {
            return outcomes.entrySet().stream().filter(e -> e.getValue().needsRestart().isPresent())
                    .map(e -> e.getKey() + ": " + e.getValue().needsRestart().get()).toList();
        }
    }

    private record Started(String name, Running running) {
    }

    private final AgentState state;
    private final Loops loops;
    private final List<Started> started = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private boolean begun;
    private boolean stopping;

    public Lifecycle(AgentState state, Loops loops) {
        this.state = Objects.requireNonNull(state, "state");
        this.loops = Objects.requireNonNull(loops, "loops");
    }

    public AgentState state() {
        return state;
    }

    /** Prepares every component, changing nothing; throws with every refusal when any component refused. */
    public Plan prepare(List<Component> components) throws PrepareFailed {
        Set<String> names = new HashSet<>();
        List<Plan.Step> steps = new ArrayList<>();
        List<PrepareFailed.Failure> failures = new ArrayList<>();
        for (Component component : components) {
            if (!names.add(component.name())) {
                throw new IllegalArgumentException("two components are named " + component.name());
            }
            try (LogComponent named = LogComponent.as(component.name())) {
                steps.add(new Plan.Step(component.name(), Objects.requireNonNull(component.prepare(),
                        component.name() + " prepared nothing")));
            } catch (Exception e) {
                failures.add(new PrepareFailed.Failure(component.name(), e));
            }
        }
        if (!failures.isEmpty()) {
            throw new PrepareFailed(failures, steps);
        }
        return new Plan(steps);
    }

    /**
     * Starts the plan's components in order. When one fails, the components already started are stopped in
     * reverse order, the lifecycle ends, and the failure is thrown.
     */
    public void start(Plan plan) throws StartFailed {
        synchronized (this) {
            if (begun) {
                throw new IllegalStateException("already started");
            }
            begun = true;
            if (stopping) {
                return;
            }
            state.order(plan.steps().stream().map(Plan.Step::name).toList());
            state.stage(AgentState.Stage.STARTING);
            for (Plan.Step step : plan.steps()) {
                try {
                    started.add(new Started(step.name(), startOne(step)));
                    LOG.info("{} started", step.name());
                } catch (Exception e) {
                    state.reporter(step.name()).failed("start failed: " + e.getMessage());
                    LOG.error("{} failed to start: {}", step.name(), e.toString());
                    stopStarted();
                    state.stage(AgentState.Stage.STOPPED);
                    stopped.countDown();
                    throw new StartFailed(step.name(), e);
                }
            }
            state.stage(AgentState.Stage.RUNNING);
        }
    }

    private Running startOne(Plan.Step step) throws Exception {
        StatusReporter reporter = state.reporter(step.name());
        reporter.starting("starting");
        try (LogComponent named = LogComponent.as(step.name())) {
            return Objects.requireNonNull(step.prepared().start(new ComponentContext(reporter, loops, state)),
                    step.name() + " started nothing");
        }
    }

    /**
     * Prepares {@code next} (the components of a reloaded configuration) and, when all of them prepared,
     * reconciles each running component of the same name to its new plan, in order; components that are new start
     * at their place, components that are gone stop first. When any refused, nothing changes and the state says
     * "reload refused" until a reload is accepted.
     */
    public synchronized ReloadResult reload(List<Component> next) {
        if (!begun || stopping) {
            throw new IllegalStateException("not running");
        }
        Plan plan;
        try {
            plan = prepare(next);
        } catch (PrepareFailed refused) {
            return refuseReload(refused);
        }
        Set<String> wanted = new HashSet<>();
        plan.steps().forEach(step -> wanted.add(step.name()));
        for (int i = started.size() - 1; i >= 0; i--) {
            Started gone = started.get(i);
            if (!wanted.contains(gone.name())) {
                stopOne(gone);
                started.remove(i);
                state.remove(gone.name());
            }
        }
        Map<String, Reconciled> outcomes = new LinkedHashMap<>();
        Map<String, Exception> failures = new LinkedHashMap<>();
        List<Started> now = new ArrayList<>();
        for (Plan.Step step : plan.steps()) {
            Optional<Started> running = started.stream().filter(s -> s.name().equals(step.name())).findFirst();
            try {
                if (running.isPresent()) {
                    Reconciled outcome;
                    try (LogComponent named = LogComponent.as(step.name())) {
                        outcome = running.get().running().reload(step.prepared());
                    }
                    outcomes.put(step.name(), outcome);
                    now.add(running.get());
                    if (outcome.changed() || outcome.needsRestart().isPresent()) {
                        LOG.info("reload: {}: {}{}", step.name(), outcome.summary(),
                                outcome.needsRestart().map(r -> "; not applied: " + r).orElse(""));
                    }
                } else {
                    now.add(new Started(step.name(), startOne(step)));
                    outcomes.put(step.name(), Reconciled.changed("started"));
                    LOG.info("reload: {} started", step.name());
                }
            } catch (Exception e) {
                failures.put(step.name(), e);
                if (running.isPresent()) {
                    now.add(running.get());
                    LOG.error("reload: {}: the change could not be applied, keeping what it had: {}", step.name(),
                            e.toString());
                } else {
                    // As at start: a component that did not start says so, rather than "starting" for ever.
                    state.reporter(step.name()).failed("start failed: " + e.getMessage());
                    LOG.error("reload: {} failed to start: {}", step.name(), e.toString());
                }
            }
        }
        started.clear();
        started.addAll(now);
        state.order(now.stream().map(Started::name).toList());
        state.reloaded(Optional.empty());
        return new ReloadResult(Optional.empty(), outcomes, failures);
    }

    /**
     * Records a refused reload (components that did not prepare, or a configuration that does not even load):
     * nothing changes, and the state says "reload refused" until a reload is accepted. The caller logs it.
     */
    public ReloadResult refuseReload(PrepareFailed refused) {
        state.reloaded(Optional.of(refused.getMessage()));
        return new ReloadResult(Optional.of(refused), Map.of(), Map.of());
    }

    /** Stops every started component in reverse order; later calls do nothing. */
    public void stop() {
        synchronized (this) {
            if (stopping) {
                return;
            }
            stopping = true;
            if (!begun) {
                state.stage(AgentState.Stage.STOPPED);
                stopped.countDown();
                return;
            }
            if (stopped.getCount() == 0) {
                return;
            }
            state.stage(AgentState.Stage.STOPPING);
            stopStarted();
            state.stage(AgentState.Stage.STOPPED);
        }
        stopped.countDown();
    }

    private void stopStarted() {
        for (int i = started.size() - 1; i >= 0; i--) {
            stopOne(started.get(i));
        }
        started.clear();
    }

    private void stopOne(Started component) {
        try (LogComponent named = LogComponent.as(component.name())) {
            component.running().stop();
            state.reporter(component.name()).stopped("stopped");
            LOG.info("{} stopped", component.name());
        } catch (Exception e) {
            state.reporter(component.name()).failed("stop failed: " + e.getMessage());
            LOG.error("{} failed to stop cleanly: {}", component.name(), e.toString());
        }
    }

    /** Blocks until {@link #stop()} has finished, or a failed start ended the lifecycle. */
    public void awaitStopped() throws InterruptedException {
        stopped.await();
    }
}
