package io.istiovm.agent.envoy;

import com.fasterxml.jackson.databind.JsonNode;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.HostPort;
import io.istiovm.agent.config.UserRef;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the Envoy area reads from the configuration, in one immutable value, so the bootstrap plan, the
 * command line and the supervisor never reach into {@link AgentConfig} themselves.
 */
public record EnvoySettings(
        Path binary, boolean binaryIsDefault, UserRef user,
        int adminPort, int outboundPort, int inboundPort, int statusPort, int prometheusPort, int agentStatusPort,
        HostPort discoveryAddress, boolean mutualTls, String istiodSan,
        InetAddress instanceIp, String podName, String namespace, String serviceCluster,
        Map<String, JsonNode> nodeMetadata,
        Path sdsSocket, Path configDir, Path sharedMemoryDir, Optional<Path> bootstrapOverride,
        int concurrency, String logLevel, Duration drainTime, Duration parentShutdownTime,
        Duration minimumDrain, Duration terminationDrain,
        Duration restartBackoff, Duration restartBackoffMax, Duration stablePeriod,
        Duration liveTimeout, Duration stopTimeout, Duration pollInterval) {

    public EnvoySettings {
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(discoveryAddress, "discoveryAddress");
        Objects.requireNonNull(istiodSan, "istiodSan");
        Objects.requireNonNull(instanceIp, "instanceIp (ISTIO_SVC_IP)");
        Objects.requireNonNull(podName, "podName (POD_NAME)");
        Objects.requireNonNull(sdsSocket, "sdsSocket");
        // Sorted so that the bootstrap (and its digest) does not depend on the order keys were read in.
        nodeMetadata = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(nodeMetadata));
        if (restartBackoffMax.compareTo(restartBackoff) < 0) {
            throw new IllegalArgumentException("VM_AGENT_ENVOY_RESTART_BACKOFF_MAX " + restartBackoffMax
                    + " is shorter than VM_AGENT_ENVOY_RESTART_BACKOFF " + restartBackoff);
        }
    }

    /**
     * Reads the settings; a value that has no default and could not be derived (no host address, no host name)
     * is an {@link IllegalArgumentException} naming the key.
     */
    public static EnvoySettings from(AgentConfig config) {
        InetAddress ip = config.find(ConfigKeys.ISTIO_SVC_IP).orElseThrow(() -> new IllegalArgumentException(
                "ISTIO_SVC_IP is not set and the host has no global address to default to"));
        String pod = config.find(ConfigKeys.POD_NAME).orElseThrow(() -> new IllegalArgumentException(
                "POD_NAME is not set and the host name is unknown"));
        return new EnvoySettings(
                config.get(ConfigKeys.VM_AGENT_ENVOY_BINARY),
                config.source(ConfigKeys.VM_AGENT_ENVOY_BINARY).equals(io.istiovm.agent.config.Source.DEFAULT),
                config.get(ConfigKeys.ENVOY_USER),
                config.get(ConfigKeys.VM_AGENT_ENVOY_ADMIN_PORT),
                config.get(ConfigKeys.ENVOY_PORT),
                config.get(ConfigKeys.INBOUND_CAPTURE_PORT),
                config.get(ConfigKeys.ENVOY_STATUS_PORT),
                config.get(ConfigKeys.ENVOY_PROMETHEUS_PORT),
                config.get(ConfigKeys.VM_AGENT_STATUS_PORT),
                config.get(ConfigKeys.PILOT_ADDRESS),
                config.get(ConfigKeys.ISTIO_CP_AUTH).equals("MUTUAL_TLS"),
                config.get(ConfigKeys.ISTIOD_SAN),
                ip, pod,
                config.get(ConfigKeys.ISTIO_NAMESPACE),
                config.get(ConfigKeys.ISTIO_SERVICE),
                config.nodeMetadata(),
                config.get(ConfigKeys.VM_AGENT_SDS_SOCKET),
                config.get(ConfigKeys.VM_AGENT_ENVOY_CONFIG_DIR),
                config.get(ConfigKeys.VM_AGENT_ENVOY_SHM_DIR),
                config.find(ConfigKeys.ISTIO_BOOTSTRAP_OVERRIDE),
                config.get(ConfigKeys.VM_AGENT_ENVOY_CONCURRENCY),
                config.get(ConfigKeys.VM_AGENT_ENVOY_LOG_LEVEL),
                config.get(ConfigKeys.VM_AGENT_ENVOY_DRAIN_TIME),
                config.get(ConfigKeys.VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME),
                config.get(ConfigKeys.MINIMUM_DRAIN_DURATION),
                config.get(ConfigKeys.TERMINATION_DRAIN_DURATION),
                config.get(ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF),
                config.get(ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF_MAX),
                config.get(ConfigKeys.VM_AGENT_ENVOY_STABLE_PERIOD),
                config.get(ConfigKeys.VM_AGENT_ENVOY_LIVE_TIMEOUT),
                config.get(ConfigKeys.VM_AGENT_ENVOY_STOP_TIMEOUT),
                config.get(ConfigKeys.VM_AGENT_ENVOY_POLL_INTERVAL));
    }

    /**
     * Envoy's node ID in the format Istio's Kubernetes service registry expects:
     * {@code sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local}.
     */
    public String nodeId() {
        return "sidecar~" + io.istiovm.agent.config.IpAddresses.format(instanceIp) + "~" + podName + "." + namespace
                + "~" + namespace + ".svc.cluster.local";
    }

    /** {@code v4} or {@code v6}: the family Envoy uses for its own upstream source addresses. */
    public String ipVersion() {
        return instanceIp instanceof Inet6Address ? "v6" : "v4";
    }
}
