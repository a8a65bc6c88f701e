package io.istiovm.agent.testing;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.Lifecycle;
import io.istiovm.agent.lifecycle.PrepareFailed;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import io.istiovm.agent.metrics.AgentMetrics;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;

/**
 * A real lifecycle over components that do nothing but hold the state the test gives them through their reporters:
 * the agent's state as the status server and the {@code status} command see it, without the areas.
 */
public final class TestAgent {
    public final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T10:00:00Z"));
    public final AgentMetrics metrics = new AgentMetrics("1.2.3-test");
    public final AgentState state = new AgentState(clock, metrics);
    public final Lifecycle lifecycle = new Lifecycle(state, new ManualLoops(clock));
    private final List<String> names;

    public TestAgent(String... names) {
        this.names = List.of(names);
    }

    /** Prepares and starts every component; each stays "starting" until the test reports otherwise. */
    public TestAgent start() throws Exception {
        lifecycle.start(lifecycle.prepare(components()));
        return this;
    }

    public List<Component> components() {
        return names.stream().map(TestAgent::component).toList();
    }

    public StatusReporter reporter(String name) {
        return state.reporter(name);
    }

    public void refuseReload(String why) {
        lifecycle.refuseReload(new PrepareFailed(List.of(new PrepareFailed.Failure("configuration",
                new IllegalStateException(why)))));
    }

    private static Component component(String name) {
        return new Component() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Prepared prepare() {
                return new Prepared() {
                    @Override
                    public void describe(PrintWriter out) {
                    }

                    @Override
                    public Running start(io.istiovm.agent.lifecycle.ComponentContext context) {
                        return new Running() {
                            @Override
                            public Reconciled reload(Prepared next) {
                                return Reconciled.unchanged();
                            }

                            @Override
                            public void stop() {
                            }
                        };
                    }
                };
            }
        };
    }
}
