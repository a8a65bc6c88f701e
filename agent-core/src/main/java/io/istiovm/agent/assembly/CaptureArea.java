package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.envoy.EnvoySupervisor;
import io.istiovm.agent.hosts.HostsBlock;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.netfilter.Backend;
import io.istiovm.agent.netfilter.CaptureComponent;
import io.istiovm.agent.netfilter.CaptureException;
import io.istiovm.agent.netfilter.CapturePlan;
import io.istiovm.agent.netfilter.CapturePlanner;
import io.istiovm.agent.netfilter.CaptureSettings;
import io.istiovm.agent.netfilter.Drift;
import io.istiovm.agent.netfilter.HandedOutAddresses;
import io.istiovm.agent.netfilter.NetfilterCapture;
import io.istiovm.agent.netfilter.NetfilterTools;
import io.istiovm.agent.netfilter.NftablesEvents;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The capture rules, wired from the configuration: the settings, the component, and the one-shot operations of
 * {@code iptables plan|apply|verify|clean}, which plan and clean exactly as the running agent does.
 */
public final class CaptureArea {
    private final AgentRuntime runtime;
    private final CaptureSettings settings;
    private final HandedOutAddresses handedOut;

    /**
     * @param hosts the hosts block of the same configuration, read only: its plan's addresses are the VIPs capture
     *              must cover (netfilter cannot import hosts, so the wiring is here)
     */
    CaptureArea(AgentConfig config, AgentRuntime runtime, HostsArea hosts) {
        this.runtime = runtime;
        this.settings = settings(config);
        this.handedOut = handedOut(runtime, hosts);
    }

    /**
     * The hosts block's addresses, as the hosts plan makes them from the sources (what the hosts component writes),
     * with a change notice whenever the hosts file's directory changes: the hosts component rewrites the file after
     * every change of its sources, so capture follows the file the way it was written, and the verify interval
     * catches anything the events miss. A reload builds this again from the new configuration.
     */
    private static HandedOutAddresses handedOut(AgentRuntime runtime, HostsArea hosts) {
        return new HandedOutAddresses() {
            @Override
            public List<InetAddress> read() throws Exception {
                return hosts.plan().block().lines().stream().map(HostsBlock.Line::address).toList();
            }

            @Override
            public AutoCloseable subscribe(Runnable onChange) throws IOException {
                Path target = hosts.settings().target();
                FileEvents.Registration registration = runtime.fileEvents().watch(target.getParent(),
                        paths -> {
                            // The directory itself stands for "events were lost" (an overflow).
                            if (paths.stream().anyMatch(p -> p.equals(target.getParent())
                                    || target.getFileName().equals(p.getFileName()))) {
                                onChange.run();
                            }
                        });
                return registration;
            }
        };
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
                config.get(ConfigKeys.VM_AGENT_CAPTURE_FAIL_CLOSED),
                config.find(ConfigKeys.ISTIO_SVC_IP),
                origin(config, ConfigKeys.ISTIO_SERVICE_CIDR),
                config.get(ConfigKeys.ISTIO_OUTBOUND_PORTS),
                config.get(ConfigKeys.ISTIO_EXCLUDE_INTERFACES),
                optionalId(config, ConfigKeys.PROXY_UID),
                optionalId(config, ConfigKeys.PROXY_GID),
                origin(config, ConfigKeys.PROXY_UID),
                List.of());
    }

    private static OptionalLong optionalId(AgentConfig config, ConfigKey<Long> key) {
        return config.find(key).map(OptionalLong::of).orElse(OptionalLong.empty());
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
        return List.of(new CaptureComponent(settings, runtime.paths().etc(), NetfilterTools.system(),
                onChange -> NftablesEvents.subscribe(Optional.empty(), onChange),
                // Envoy's READY means LIVE on the capture ports: with fail-closed off, the rules wait for it.
                EnvoySupervisor.NAME, handedOut));
    }

    /**
     * The plan for this host, as the running agent prepares it ({@code iptables plan}): with the VIPs of the hosts
     * block the sources ask for (none when they cannot be read; {@code hosts plan} says why).
     */
    public CapturePlan plan() throws IOException, ConfigException {
        List<InetAddress> addresses;
        try {
            addresses = handedOut.read();
        } catch (Exception e) {
            addresses = List.of();
        }
        return CapturePlanner.forHost(settings.withHostsAddresses(addresses), runtime.paths().etc());
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
