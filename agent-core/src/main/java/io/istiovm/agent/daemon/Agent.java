package io.istiovm.agent.daemon;

import io.istiovm.agent.config.AgentConfig;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The daemon's lifecycle: start components in order, stop them in reverse, exactly once. */
public final class Agent {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);

    private final AgentConfig config;
    private final List<Component> components;
    private final List<Component> started = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private boolean stopping;

    public Agent(AgentConfig config, List<Component> components) {
        this.config = config;
        this.components = List.copyOf(components);
    }

    public AgentConfig config() {
        return config;
    }

    /** Some components could not prepare: each failure, in component order. Nothing on the host was changed. */
    public static final class PrepareFailed extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient List<Exception> failures;

        PrepareFailed(List<Exception> failures) {
            super(failures.size() + " component(s) could not prepare", null, false, false);
            this.failures = List.copyOf(failures);
        }

        public List<Exception> failures() {
            return failures;
        }
    }

    /**
     * Prepares every component (all of them, so every problem is reported at once), then starts them in order.
     * A failure to start stops the components already started and is rethrown wrapped.
     */
    public synchronized void start() throws PrepareFailed {
        List<Exception> failures = new ArrayList<>();
        for (Component component : components) {
            try {
                component.prepare();
            } catch (Exception e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            throw new PrepareFailed(failures);
        }
        for (Component component : components) {
            try {
                component.start();
                started.add(component);
                LOG.info("{} started", component.name());
            } catch (Exception e) {
                LOG.error("{} failed to start: {}", component.name(), e.toString());
                stop();
                throw new IllegalStateException(component.name() + " failed to start", e);
            }
        }
    }

    public synchronized boolean ready() {
        return !stopping && started.size() == components.size() && components.stream().allMatch(Component::ready);
    }

    public void describe(PrintWriter out) {
        out.println("# configuration: " + config.files().clusterEnv());
        for (Component component : components) {
            out.println("# " + component.name());
            component.describe(out);
        }
    }

    /** Stops every started component in reverse order; later calls do nothing. */
    public void stop() {
        synchronized (this) {
            if (stopping) {
                return;
            }
            stopping = true;
            for (int i = started.size() - 1; i >= 0; i--) {
                Component component = started.get(i);
                try {
                    component.stop();
                    LOG.info("{} stopped", component.name());
                } catch (Exception e) {
                    LOG.error("{} failed to stop cleanly: {}", component.name(), e.toString());
                }
            }
            started.clear();
        }
        stopped.countDown();
    }

    /** Blocks until {@link #stop()} has finished. */
    public void awaitStopped() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
