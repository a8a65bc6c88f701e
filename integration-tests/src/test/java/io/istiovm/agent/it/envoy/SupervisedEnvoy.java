package io.istiovm.agent.it.envoy;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.EnvoySettings;
import io.istiovm.agent.envoy.EnvoySupervisor;
import io.istiovm.agent.envoy.ProcessUser;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.sds.SdsServer;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The agent's Envoy area as the daemon wires it (identity, SDS server, supervisor), in this JVM, supervising the
 * {@link EnvoyStandIn} as uid {@value EnvoyStandInFixture#ENVOY_UID}. The identity comes from a {@link TestIdentities}.
 */
public final class SupervisedEnvoy implements AutoCloseable {
    private final EnvoyStandInFixture standIn;
    private final Path configDir;
    private final TestIdentities ca = new TestIdentities();
    private final IdentityHolder identities = new IdentityHolder();
    private final EnvoySettings settings;
    private final SdsServer sds;
    private final EnvoySupervisor supervisor;

    /** {@code extraConfig}: cluster.env lines added to the stand-in's (timers, drain durations, ...). */
    public SupervisedEnvoy(EnvoyStandInFixture standIn, String... extraConfig) throws Exception {
        this.standIn = standIn;
        this.configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        this.settings = settingsFor(standIn.clusterEnv(extraConfig));
        this.sds = new SdsServer(identities, settings.sdsSocket(), OptionalInt.of(EnvoyStandInFixture.ENVOY_UID));
        ProcessUser envoyUser = new ProcessUser("nobody", EnvoyStandInFixture.ENVOY_UID,
                EnvoyStandInFixture.ENVOY_UID);
        this.supervisor = new EnvoySupervisor(settings, EnvoyBootstrap.plan(settings), standIn.binary(),
                Optional.of(envoyUser), Clock.systemUTC(), EnvoySupervisor.Sleeper.REAL);
    }

    /** Settings from cluster.env text, loaded through the agent's own configuration loader. */
    public EnvoySettings settingsFor(String clusterEnv) {
        AgentConfig config = TestConfigs.load(configDir, clusterEnv);
        return EnvoySettings.from(config);
    }

    /** Issues a new workload certificate and publishes it to SDS; returns it. */
    public ServedIdentity rotate() {
        ServedIdentity identity = ca.issue("bar", "httpbin");
        identities.set(identity);
        return identity;
    }

    /** Publishes an identity, starts SDS and then the supervisor, as the daemon orders them. */
    public SupervisedEnvoy start() throws Exception {
        rotate();
        sds.start();
        supervisor.start();
        return this;
    }

    public EnvoySettings settings() {
        return settings;
    }

    public EnvoySupervisor supervisor() {
        return supervisor;
    }

    public SdsServer sds() {
        return sds;
    }

    public EnvoyStandInFixture standIn() {
        return standIn;
    }

    @Override
    public void close() throws Exception {
        try {
            supervisor.stop();
        } finally {
            sds.stop();
        }
    }
}
