package io.istiovm.agent.daemon;

import io.istiovm.agent.ca.IdentityComponent;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.envoy.EnvoyComponents;
import io.istiovm.agent.sds.IdentityStateSource;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * The agent's components in start order. Order matters: the control-plane names in /etc/hosts come first (the
 * CA is reached through them), the identity must exist before SDS serves it to Envoy, and capture rules go in
 * only once Envoy listens on the capture ports (and come out first on stop, in reverse order).
 */
public final class Components {
    private Components() {
    }

    public static List<Component> forConfig(AgentConfig config) {
        List<Component> components = new ArrayList<>();
        components.add(io.istiovm.agent.hosts.HostsComponent.forConfig(config));
        IdentityComponent identity = new IdentityComponent(config, Clock.systemUTC());
        components.add(identity);
        components.addAll(EnvoyComponents.forConfig(config, new IdentityStateSource(identity.state()),
                Clock.systemUTC()));
        // ISTIO_CUSTOM_IP_TABLES=true hands netfilter to the operator: the agent neither applies nor cleans it.
        if (!config.get(ConfigKeys.ISTIO_CUSTOM_IP_TABLES)) {
            components.add(io.istiovm.agent.netfilter.CapturePlans.component(config));
        }
        return List.copyOf(components);
    }
}
