package io.istiovm.agent.hosts;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.Source;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What the hosts block is built from: the gateway address with the control-plane names, and the configuration
 * directory that holds the {@code hosts} file and the {@code hosts.d/} drop-ins.
 */
public record HostsInputs(Path configDirectory, Optional<InetAddress> gatewayAddress, Source gatewaySource,
                          List<String> gatewayNames) {

    public HostsInputs {
        configDirectory = configDirectory.toAbsolutePath().normalize();
        Objects.requireNonNull(gatewayAddress, "gatewayAddress");
        Objects.requireNonNull(gatewaySource, "gatewaySource");
        gatewayNames = List.copyOf(gatewayNames);
    }

    public static HostsInputs from(AgentConfig config) {
        String namespace = config.get(ConfigKeys.ISTIO_SYSTEM_NAMESPACE);
        List<String> names = new ArrayList<>(controlPlaneNames(namespace));
        names.addAll(config.get(ConfigKeys.VM_AGENT_GATEWAY_NAMES));
        return new HostsInputs(config.files().directory(), config.find(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS),
                config.source(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS), names);
    }

    /** The names a VM dials the control plane by: the 1.4 Citadel and Pilot names and istiod's service name. */
    public static List<String> controlPlaneNames(String systemNamespace) {
        return List.of("istio-citadel", "istio-pilot", "istio-pilot." + systemNamespace,
                "istiod." + systemNamespace + ".svc");
    }

    /** The hosts-format file {@code istioctl x workload entry configure} writes. */
    public Path hostsFile() {
        return configDirectory.resolve("hosts");
    }

    /** Drop-ins: hosts-format files and ServiceEntry manifests. */
    public Path dropInDirectory() {
        return configDirectory.resolve("hosts.d");
    }
}
