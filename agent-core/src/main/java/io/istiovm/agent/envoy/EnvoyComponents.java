package io.istiovm.agent.envoy;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.daemon.Component;
import io.istiovm.agent.sds.IdentitySource;
import io.istiovm.agent.sds.SdsServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The Envoy area's components in start order: the SDS server, then the supervisor. Planning the bootstrap and
 * resolving binary and user happen in {@code prepare()}, so {@code run --dry-run} and a host without Envoy can
 * still describe them, and a bad bootstrap override stops the agent before anything changed.
 */
public final class EnvoyComponents {
    private EnvoyComponents() {
    }

    /** The SDS server and the supervisor, with the identity coming from {@code identities}. */
    public static List<Component> forConfig(AgentConfig config, IdentitySource identities, Clock clock) {
        return List.of(new Lazy("sds", () -> {
            EnvoySettings settings = EnvoySettings.from(config);
            return new SdsServer(identities, settings.sdsSocket(), OptionalInt.of((int) user(settings).gid()));
        }), new Lazy("envoy", () -> {
            EnvoySettings settings = EnvoySettings.from(config);
            EnvoyBootstrap bootstrap = EnvoyBootstrap.plan(settings);
            Path binary = EnvoySupervisor.resolveBinary(settings, Files::isExecutable);
            ProcessUser user = user(settings);
            long self = currentUid();
            if (self != 0 && self != user.uid()) {
                throw new IllegalStateException("the agent runs as uid " + self + " and cannot start Envoy as "
                        + settings.user() + " (uid " + user.uid() + "); run the agent as root or as that user");
            }
            Optional<ProcessUser> runAs = user.uid() == self ? Optional.empty() : Optional.of(user);
            return new EnvoySupervisor(settings, bootstrap, binary, runAs, clock, EnvoySupervisor.Sleeper.REAL);
        }));
    }

    private static ProcessUser user(EnvoySettings settings) {
        try {
            return ProcessUser.resolve(settings.user(), Path.of("/etc/passwd"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long currentUid() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Builds its component on start, so that a failure to build it is a start failure with the reason. */
    private static final class Lazy implements Component {
        interface Factory {
            Component create() throws Exception;
        }

        private final String name;
        private final Factory factory;
        private Component delegate;

        Lazy(String name, Factory factory) {
            this.name = name;
            this.factory = factory;
        }

        @Override
        public String name() {
            return name;
        }

        /** Builds the component (bootstrap planned and validated, binary and user resolved) and prepares it. */
        @Override
        public synchronized void prepare() throws Exception {
            delegate = factory.create();
            delegate.prepare();
        }

        @Override
        public synchronized void start() throws Exception {
            if (delegate == null) {
                prepare();
            }
            delegate.start();
        }

        @Override
        public synchronized boolean ready() {
            return delegate != null && delegate.ready();
        }

        @Override
        public void describe(PrintWriter out) {
            try {
                factory.create().describe(out);
            } catch (Exception e) {
                out.println(name + ": cannot start: " + e.getMessage());
            }
        }

        @Override
        public synchronized void stop() throws Exception {
            if (delegate != null) {
                delegate.stop();
                delegate = null;
            }
        }
    }
}
