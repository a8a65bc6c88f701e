package io.istiovm.agent.assembly;

import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import java.io.PrintWriter;
import java.time.Duration;

/**
 * Runs a component written against the old start/stop contract under the lifecycle engine while its area moves to
 * the new one: readiness is polled every second, and a reload cannot change it.
 */
final class LegacyComponent implements Component {
    private static final Duration POLL = Duration.ofSeconds(1);
    private final io.istiovm.agent.daemon.Component legacy;

    LegacyComponent(io.istiovm.agent.daemon.Component legacy) {
        this.legacy = legacy;
    }

    @Override
    public String name() {
        return legacy.name();
    }

    @Override
    public Prepared prepare() throws Exception {
        legacy.prepare();
        return new Prepared() {
            @Override
            public void describe(PrintWriter out) {
                legacy.describe(out);
            }

            @Override
            public Running start(ComponentContext context) throws Exception {
                legacy.start();
                Loop loop = context.startLoop(now -> {
                    if (legacy.ready()) {
                        context.status().ready("running");
                    } else {
                        context.status().starting("not ready");
                    }
                    return now.plus(POLL);
                });
                return new Running() {
                    @Override
                    public Reconciled reload(Prepared next) {
                        return Reconciled.unchanged().withRestartNeeded("this component does not reload yet; "
                                + "restart the agent to apply");
                    }

                    @Override
                    public void stop() throws Exception {
                        loop.close();
                        legacy.stop();
                    }
                };
            }
        };
    }
}
