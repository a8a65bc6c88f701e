package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.hosts.HostsComponent;
import io.istiovm.agent.hosts.HostsFileWriter;
import io.istiovm.agent.hosts.HostsPlan;
import io.istiovm.agent.hosts.HostsPlanner;
import io.istiovm.agent.hosts.HostsSettings;
import io.istiovm.agent.lifecycle.Component;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The hosts block, wired from the configuration: its settings, its component, and the CLI's one-shot operations,
 * which write through the same {@link HostsFileWriter} retry as the running component.
 */
public final class HostsArea {
    private final HostsSettings settings;
    private final AgentRuntime runtime;

    HostsArea(AgentConfig config, AgentRuntime runtime) {
        this.settings = settings(config);
        this.runtime = runtime;
    }

    private static HostsSettings settings(AgentConfig config) {
        List<String> names = new ArrayList<>(HostsSettings.controlPlaneNames(
                config.get(ConfigKeys.ISTIO_SYSTEM_NAMESPACE)));
        names.addAll(config.get(ConfigKeys.VM_AGENT_GATEWAY_NAMES));
        return new HostsSettings(config.files().directory(), config.find(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS),
                config.source(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS), names, config.get(ConfigKeys.VM_AGENT_HOSTS_FILE),
                config.get(ConfigKeys.VM_AGENT_HOSTS_VERIFY_INTERVAL));
    }

    public HostsSettings settings() {
        return settings;
    }

    public List<Component> components() {
        return List.of(new HostsComponent(settings, runtime.fileEvents()));
    }

    /** What the block should be and how the file differs ({@code hosts plan}); changes nothing. */
    public HostsPlan plan() throws ConfigException, IOException {
        return HostsPlanner.apply(settings);
    }

    /** Writes the block once ({@code hosts apply}), first finishing a rewrite a killed writer left. */
    public HostsFileWriter.Written applyOnce() throws ConfigException, IOException {
        HostsFileWriter writer = new HostsFileWriter();
        writer.recover(settings.target());
        return writer.apply(settings);
    }

    /** Removes the block ({@code hosts clean}), first finishing a rewrite a killed writer left. */
    public HostsFileWriter.Written clean() throws ConfigException, IOException {
        HostsFileWriter writer = new HostsFileWriter();
        writer.recover(settings.target());
        return writer.clean(settings.target());
    }
}
