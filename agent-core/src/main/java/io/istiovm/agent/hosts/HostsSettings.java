package io.istiovm.agent.hosts;

import io.istiovm.agent.config.Source;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the hosts block is built from and kept by: the gateway address (and where it was set, for messages)
 * with the names mapped to it, the configuration directory that holds the {@code hosts} file and the
 * {@code hosts.d/} drop-ins, the hosts file the block goes into, and how often the running agent re-checks it
 * when no event said it changed.
 */
public record HostsSettings(Path configDirectory, Optional<InetAddress> gatewayAddress, Source gatewaySource,
                            List<String> gatewayNames, Path target, Duration checkInterval) {

    public HostsSettings {
        configDirectory = configDirectory.toAbsolutePath().normalize();
        Objects.requireNonNull(gatewayAddress, "gatewayAddress");
        Objects.requireNonNull(gatewaySource, "gatewaySource");
        gatewayNames = List.copyOf(gatewayNames);
        target = target.toAbsolutePath().normalize();
        if (target.getParent() == null) {
            throw new IllegalArgumentException("hosts file " + target + " has no directory");
        }
        if (checkInterval.isNegative() || checkInterval.isZero()) {
            throw new IllegalArgumentException("check interval " + checkInterval + " must be positive");
        }
    }

    /** Only the drop-ins and {@code hosts} file of {@code configDirectory}, no gateway (benchmarks, tests). */
    public static HostsSettings sourcesOnly(Path configDirectory, Path target, Duration checkInterval) {
        return new HostsSettings(configDirectory, Optional.empty(), Source.DEFAULT, List.of(), target, checkInterval);
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

    /** These settings with the files of {@code running} (which a reload cannot move). */
    HostsSettings at(HostsSettings running) {
        return new HostsSettings(running.configDirectory, gatewayAddress, gatewaySource, gatewayNames,
                running.target, checkInterval);
    }

    /** True when the block lives in other files than in {@code running}. */
    boolean movedFrom(HostsSettings running) {
        return !configDirectory.equals(running.configDirectory) || !target.equals(running.target);
    }
}
