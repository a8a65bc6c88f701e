package io.istiovm.agent.envoy;

import com.fasterxml.jackson.databind.JsonNode;
import io.istiovm.agent.config.HostPort;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.config.UserRef;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the Envoy area reads from the configuration, in one immutable value (built by the assembly), so the
 * bootstrap plan, the command line and the supervisor never reach into the configuration themselves. The sources
 * of the binary and the user let a refusal name the file and line that chose them.
 */
public record EnvoySettings(
        Path binary, Source binarySource, UserRef user, Source userSource,
        int adminPort, int outboundPort, int inboundPort, int statusPort, int prometheusPort, int agentStatusPort,
        HostPort discoveryAddress, boolean mutualTls, String istiodSan,
        InetAddress instanceIp, String podName, String namespace, String serviceCluster,
        String serviceAccount, String interceptionMode, Map<String, JsonNode> nodeMetadata,
        Path sdsSocket, Path configDir, Path sharedMemoryDir, Optional<Path> bootstrapOverride,
        int concurrency, String logLevel, Duration drainTime, Duration parentShutdownTime,
        Duration minimumDrain, Duration terminationDrain,
        Duration restartBackoff, Duration restartBackoffMax, Duration stablePeriod,
        Duration liveTimeout, Duration stopTimeout, Duration pollInterval) {

    public EnvoySettings {
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(binarySource, "binarySource");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(userSource, "userSource");
        Objects.requireNonNull(discoveryAddress, "discoveryAddress");
        Objects.requireNonNull(istiodSan, "istiodSan");
        Objects.requireNonNull(instanceIp, "instanceIp (ISTIO_SVC_IP)");
        Objects.requireNonNull(podName, "podName (POD_NAME)");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
        Objects.requireNonNull(interceptionMode, "interceptionMode");
        Objects.requireNonNull(sdsSocket, "sdsSocket");
        // Sorted so that the bootstrap (and its digest) does not depend on the order keys were read in.
        nodeMetadata = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(nodeMetadata));
        if (restartBackoffMax.compareTo(restartBackoff) < 0) {
            throw new IllegalArgumentException("VM_AGENT_ENVOY_RESTART_BACKOFF_MAX " + restartBackoffMax
                    + " is shorter than VM_AGENT_ENVOY_RESTART_BACKOFF " + restartBackoff);
        }
    }

    /** True when VM_AGENT_ENVOY_BINARY was not set: then /usr/bin/envoy may stand in for a missing default. */
    public boolean binaryIsDefault() {
        return binarySource.equals(Source.DEFAULT);
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
