package io.istiovm.agent.daemon;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
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
        components.add(io.istiovm.agent.hosts.HostsComponent.forConfig(config));
        components.add(new io.istiovm.agent.ca.IdentityComponent(config, java.time.Clock.systemUTC()));
        // ISTIO_CUSTOM_IP_TABLES=true hands netfilter to the operator: the agent neither applies nor cleans it.
        if (!config.get(ConfigKeys.ISTIO_CUSTOM_IP_TABLES)) {
            components.add(io.istiovm.agent.netfilter.CapturePlans.component(config));
        }
        return List.copyOf(components);
    }
}
