package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.envoy.EnvoySupervisor;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.netfilter.Backend;
import io.istiovm.agent.netfilter.CaptureComponent;
import io.istiovm.agent.netfilter.CaptureException;
import io.istiovm.agent.netfilter.CapturePlan;
import io.istiovm.agent.netfilter.CapturePlanner;
import io.istiovm.agent.netfilter.CaptureSettings;
import io.istiovm.agent.netfilter.Drift;
import io.istiovm.agent.netfilter.NetfilterCapture;
import io.istiovm.agent.netfilter.NetfilterTools;
import io.istiovm.agent.netfilter.NftablesEvents;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The capture rules, wired from the configuration: the settings, the component, and the one-shot operations of
 * {@code iptables plan|apply|verify|clean}, which plan and clean exactly as the running agent does.
 */
public final class CaptureArea {
    private final AgentRuntime runtime;
    private final CaptureSettings settings;

    CaptureArea(AgentConfig config, AgentRuntime runtime) {
        this.runtime = runtime;
        this.settings = settings(config);
    }

    /** The configuration's capture keys as the capture settings. */
    static CaptureSettings settings(AgentConfig config) {
        return new CaptureSettings(
                config.get(ConfigKeys.ISTIO_CUSTOM_IP_TABLES),
                config.get(ConfigKeys.ISTIO_INBOUND_PORTS),
                origin(config, ConfigKeys.ISTIO_INBOUND_PORTS),
                CaptureSettings.InboundMode.valueOf(config.get(ConfigKeys.ISTIO_INBOUND_INTERCEPTION_MODE)),
                new CapturePlan.TproxyRoute(config.get(ConfigKeys.ISTIO_INBOUND_TPROXY_MARK),
                        config.get(ConfigKeys.ISTIO_INBOUND_TPROXY_ROUTE_TABLE)),
                config.get(ConfigKeys.INBOUND_CAPTURE_PORT),
                config.get(ConfigKeys.ISTIO_LOCAL_EXCLUDE_PORTS),
                List.of(config.get(ConfigKeys.ENVOY_STATUS_PORT), config.get(ConfigKeys.ENVOY_PROMETHEUS_PORT),
                        config.get(ConfigKeys.VM_AGENT_STATUS_PORT)),
                config.get(ConfigKeys.ISTIO_SERVICE_CIDR),
                config.get(ConfigKeys.ISTIO_SERVICE_EXCLUDE_CIDR),
                config.get(ConfigKeys.VM_AGENT_GLOBAL_VIP_CIDR),
                config.get(ConfigKeys.ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE),
                config.get(ConfigKeys.ENVOY_PORT),
                !config.get(ConfigKeys.DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK),
                config.get(ConfigKeys.VM_AGENT_SSHD_CONFIG),
                config.get(ConfigKeys.ENVOY_USER),
                config.get(ConfigKeys.VM_AGENT_GROUP),
                config.get(ConfigKeys.VM_AGENT_IPTABLES_BACKEND),
                config.get(ConfigKeys.VM_AGENT_CAPTURE_VERIFY_INTERVAL),
                config.get(ConfigKeys.VM_AGENT_CAPTURE_FAIL_CLOSED));
    }

    private static CaptureSettings.Origin origin(AgentConfig config, ConfigKey<?> key) {
        String raw = config.entries().stream().filter(e -> e.name().equals(key.name())).findFirst()
                .map(AgentConfig.Entry::raw).orElse(null);
        return new CaptureSettings.Origin(key.name(), raw, config.source(key));
    }

    public CaptureSettings settings() {
        return settings;
    }

    /** Fail-closed: the rules go in before Envoy starts, so the assembly starts capture first. */
    public boolean failClosed() {
        return settings.failClosed();
    }

    /** None when ISTIO_CUSTOM_IP_TABLES=true hands netfilter to the operator (the agent neither applies nor cleans). */
    public List<Component> components() {
        if (settings.operatorManaged()) {
            return List.of();
        }
        return List.of(new CaptureComponent(settings, runtime.facts(), runtime.paths().etc(),
                NetfilterTools.system(), onChange -> NftablesEvents.subscribe(Optional.empty(), onChange),
                // Envoy's READY means LIVE on the capture ports: with fail-closed off, the rules wait for it.
                EnvoySupervisor.NAME));
    }

    /** The plan for this host, as the running agent prepares it ({@code iptables plan}). */
    public CapturePlan plan() throws IOException, ConfigException {
        return CapturePlanner.forHost(settings, runtime.facts(), runtime.paths().etc());
    }

    /** Replaces the agent's rules with the plan on the configured backend; returns the backend used. */
    public Backend apply(NetfilterTools tools) throws IOException, ConfigException, CaptureException {
        CapturePlan plan = plan();
        NetfilterCapture netfilter = NetfilterCapture.open(tools, settings.backend());
        netfilter.apply(plan);
        return netfilter.backend();
    }

    /** How netfilter differs from the plan, over the agent's own rules. */
    public Drift verify(NetfilterTools tools) throws IOException, ConfigException, CaptureException {
        CapturePlan plan = plan();
        return NetfilterCapture.open(tools, settings.backend()).verify(plan);
    }

    /**
     * Removes every chain and jump the agent owns, and in TPROXY mode the configured policy route: without a plan
     * at hand it cannot know whether the route was installed (a stopping agent removes its plan's route only).
     */
    public void clean(NetfilterTools tools) throws CaptureException {
        clean(tools, settings.backend(), settings.configuredRoute());
    }

    /**
     * Cleaning without a usable configuration (uninstall, a bad edit before a stop): the backend is detected, and
     * the TPROXY routes, whose numbers only the configuration knows, are left alone.
     */
    public static void cleanUnconfigured(NetfilterTools tools) throws CaptureException {
        clean(tools, "auto", Optional.empty());
    }

    private static void clean(NetfilterTools tools, String backend, Optional<CapturePlan.TproxyRoute> route)
            throws CaptureException {
        NetfilterCapture.open(tools, backend).clean(route);
    }
}
