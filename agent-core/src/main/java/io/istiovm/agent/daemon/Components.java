package io.istiovm.agent.daemon;

import io.istiovm.agent.config.AgentConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The agent's components in start order. Order matters: the identity must exist before Envoy starts, and
 * capture rules go in only once something listens on the capture ports.
 */
public final class Components {
    private Components() {
    }

    public static List<Component> forConfig(AgentConfig config) {
        List<Component> components = new ArrayList<>();
        components.addAll(io.istiovm.agent.envoy.EnvoyComponents.forConfig(config));
        return List.copyOf(components);
    }
}
