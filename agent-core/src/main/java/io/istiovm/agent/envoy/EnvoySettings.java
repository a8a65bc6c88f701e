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
        Duration liveTimeout, Duration stopTimeout, Duration pollInterval,
        // Envoy's process and admin API (issue 10 items 8-9, issue 11 item 6): where the admin API listens, and
        // whether Envoy gets CAP_NET_ADMIN (TPROXY capture needs transparent sockets).
        boolean adminOnTcp, boolean netAdmin) {

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

    /**
     * Where the agent keeps what only it may write about Envoy: {@code envoy.pids} (the processes it started) and
     * {@code socket/}, the directory of Envoy's admin socket. Beside the SDS socket's directory, so both live where
     * the operator put the agent's sockets: {@code /var/run/secrets/envoy-admin} by default.
     */
    public Path runDirectory() {
        Path sdsDir = sdsSocket.toAbsolutePath().getParent();
        return sdsDir.resolveSibling("envoy-admin");
    }

    /** Envoy's admin API: a unix socket (the default) or, with VM_AGENT_ENVOY_ADMIN_TCP, 127.0.0.1:adminPort. */
    public AdminAddress adminAddress() {
        return adminOnTcp ? AdminAddress.tcp(adminPort) : AdminAddress.socket(runDirectory().resolve("socket")
                .resolve("admin.sock"));
    }

    /**
     * Envoy's {@code --base-id}, derived from the bootstrap directory: two agents on one host (each with its own
     * directory) get different shared memory and hot-restart sockets, and the same agent gets the same id after a
     * restart, so its stale shared memory is recognised as its own. Kept below 2^31 / 10 because Envoy scales the
     * id by 10 (options_impl.cc, Envoy 1.12 to 1.34) and the result must stay a positive 32-bit number.
     */
    public int baseId() {
        byte[] digest;
        try {
            digest = java.security.MessageDigest.getInstance("SHA-256").digest(configDir.toAbsolutePath().normalize()
                    .toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        int bits = ((digest[0] & 0xff) << 24) | ((digest[1] & 0xff) << 16) | ((digest[2] & 0xff) << 8)
                | (digest[3] & 0xff);
        // 0 is every other Envoy's default; never pick it.
        return 1 + Math.floorMod(bits, 100_000_000);
    }

    /** {@code v4} or {@code v6}: the family Envoy uses for its own upstream source addresses. */
    public String ipVersion() {
        return instanceIp instanceof Inet6Address ? "v6" : "v4";
    }
}
