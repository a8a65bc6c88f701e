package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.envoy.EnvoyComponents;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.sds.IdentitySource;
import java.util.ArrayList;
import java.util.List;

/** SDS and Envoy, wired from the configuration: settings, components, the CLI's one-shot operations. */
public final class EnvoyArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;
    private final IdentitySource identities;

    EnvoyArea(AgentConfig config, AgentRuntime runtime, IdentitySource identities) {
        this.config = config;
        this.runtime = runtime;
        this.identities = identities;
    }

    /** The SDS server, then the Envoy supervisor. */
    public List<Component> components() {
        List<Component> components = new ArrayList<>();
        for (io.istiovm.agent.daemon.Component legacy : EnvoyComponents.forConfig(config, identities,
                runtime.clock())) {
            components.add(new LegacyComponent(legacy));
        }
        return components;
    }
}
