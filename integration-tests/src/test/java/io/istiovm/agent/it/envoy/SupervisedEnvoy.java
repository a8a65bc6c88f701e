package io.istiovm.agent.it.envoy;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.EnvoyArea;
import io.istiovm.agent.envoy.EnvoySettings;
import io.istiovm.agent.envoy.EnvoySupervision;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.sds.SdsServer;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import io.istiovm.agent.testing.TestIdentities;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The agent's Envoy area as the daemon wires it (the assembly's {@link EnvoyArea} on the system clock and thread
 * loops: SDS server, then supervisor), in this JVM, supervising the {@link EnvoyStandIn} as uid
 * {@value EnvoyStandInFixture#ENVOY_UID}. The identity comes from a {@link TestIdentities}.
 */
public final class SupervisedEnvoy implements AutoCloseable {
    private final EnvoyStandInFixture standIn;
    private final Path configDir;
    private final TestIdentities ca = new TestIdentities();
    private final IdentityHolder identities = new IdentityHolder();
    private final AgentRuntime runtime = AgentRuntime.system(CliRun.TEST_HOST);
    private final AgentState state = new AgentState(runtime.clock());
    private final EnvoyArea area;
    private SdsServer.Serving sds;
    private EnvoySupervision supervisor;

    /** {@code extraConfig}: cluster.env lines added to the stand-in's (timers, drain durations, ...). */
    public SupervisedEnvoy(EnvoyStandInFixture standIn, String... extraConfig) throws Exception {
        this.standIn = standIn;
        this.configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        this.area = area(extraConfig);
    }

    /** The area for the stand-in's configuration plus {@code extraConfig}, loaded by the agent's own loader. */
    public EnvoyArea area(String... extraConfig) {
        return new EnvoyArea(TestConfigs.inMemory(configDir, standIn.clusterEnv(extraConfig)), runtime, identities);
    }

    /** Issues a new workload certificate and publishes it to SDS; returns it. */
    public ServedIdentity rotate() {
        ServedIdentity identity = ca.issue("bar", "httpbin");
        identities.set(identity);
        return identity;
    }

    /** Publishes an identity, prepares both components and starts SDS and then the supervisor, as the daemon does. */
    public SupervisedEnvoy start() throws Exception {
        rotate();
        SdsServer.Plan sdsPlan = area.sds().prepare();
        var envoyPlan = area.supervisor().prepare();
        sds = sdsPlan.start(ComponentContext.of("sds", runtime.loops(), state));
        supervisor = envoyPlan.start(ComponentContext.of("envoy", runtime.loops(), state));
        return this;
    }

    /** What a SIGHUP does to Envoy: the supervisor reconciles to the configuration with {@code extraConfig}. */
    public Reconciled reload(String... extraConfig) throws Exception {
        return supervisor.reload(area(extraConfig).supervisor().prepare());
    }

    /** The component reports READY: the current epoch is LIVE. */
    public boolean ready() {
        return state.snapshot().component("envoy").map(c -> c.phase() == Phase.READY).orElse(false);
    }

    /** The component's state as the agent reports it (phase and reason). */
    public io.istiovm.agent.lifecycle.ComponentState state() {
        return state.snapshot().component("envoy").orElseThrow();
    }

    public EnvoySettings settings() throws Exception {
        return area.settings();
    }

    public EnvoySupervision supervisor() {
        return supervisor;
    }

    public SdsServer.Serving sds() {
        return sds;
    }

    public EnvoyStandInFixture standIn() {
        return standIn;
    }

    @Override
    public void close() throws Exception {
        try {
            if (supervisor != null) {
                supervisor.stop();
            }
        } finally {
            if (sds != null) {
                sds.stop();
            }
            runtime.close();
        }
    }
}
