package io.istiovm.agent.assembly;

import io.istiovm.agent.ca.IdentityComponent;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.lifecycle.Component;
import java.util.List;

/**
 * The workload identity, wired from the configuration: settings, component, the CLI's one-shot operations. The
 * {@link IdentityState} outlives reloads: it is the assembly's, shared with the SDS server.
 */
public final class IdentityArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;
    private final IdentityState state;

    IdentityArea(AgentConfig config, AgentRuntime runtime, IdentityState state) {
        this.config = config;
        this.runtime = runtime;
        this.state = state;
    }

    public List<Component> components() {
        return List.of(new LegacyComponent(new IdentityComponent(config, runtime.clock(), state)));
    }
}
