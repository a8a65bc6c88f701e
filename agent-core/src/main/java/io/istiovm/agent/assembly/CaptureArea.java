package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.netfilter.CapturePlans;
import java.util.List;

/** The capture rules, wired from the configuration: settings, component, the CLI's one-shot operations. */
public final class CaptureArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;

    CaptureArea(AgentConfig config, AgentRuntime runtime) {
        this.config = config;
        this.runtime = runtime;
    }

    /** None when ISTIO_CUSTOM_IP_TABLES=true hands netfilter to the operator (the agent neither applies nor cleans). */
    public List<Component> components() {
        if (config.get(ConfigKeys.ISTIO_CUSTOM_IP_TABLES)) {
            return List.of();
        }
        return List.of(new LegacyComponent(CapturePlans.component(config)));
    }
}
