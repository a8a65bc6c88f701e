package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.hosts.HostsComponent;
import io.istiovm.agent.lifecycle.Component;
import java.util.List;

/** The hosts block, wired from the configuration: its settings, its component, the CLI's one-shot operations. */
public final class HostsArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;

    HostsArea(AgentConfig config, AgentRuntime runtime) {
        this.config = config;
        this.runtime = runtime;
    }

    public List<Component> components() {
        return List.of(new LegacyComponent(HostsComponent.forConfig(config)));
    }
}
