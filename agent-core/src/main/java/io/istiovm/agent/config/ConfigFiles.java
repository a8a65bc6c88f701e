package io.istiovm.agent.config;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Where sidecar.env and cluster.env are. {@code --config-dir} wins over {@code ISTIO_SIDECAR_CONFIG} /
 * {@code ISTIO_CLUSTER_CONFIG}, which win over /var/lib/istio/envoy. The directory also holds the agent's other
 * inputs (the hosts sources of later components).
 */
public record ConfigFiles(Path directory, Path sidecarEnv, Path clusterEnv) {
    public static final Path DEFAULT_DIRECTORY = Path.of("/var/lib/istio/envoy");

    public ConfigFiles {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(sidecarEnv, "sidecarEnv");
        Objects.requireNonNull(clusterEnv, "clusterEnv");
    }

    public static ConfigFiles inDirectory(Path directory) {
        return new ConfigFiles(directory, directory.resolve("sidecar.env"), directory.resolve("cluster.env"));
    }

    /** Resolves the locations from an optional {@code --config-dir} and the process environment. */
    public static ConfigFiles resolve(Path configDir, Map<String, String> environment) {
        if (configDir != null) {
            return inDirectory(configDir);
        }
        Path sidecar = envPath(environment, ConfigKeys.ISTIO_SIDECAR_CONFIG.name(),
                DEFAULT_DIRECTORY.resolve("sidecar.env"));
        Path cluster = envPath(environment, ConfigKeys.ISTIO_CLUSTER_CONFIG.name(),
                DEFAULT_DIRECTORY.resolve("cluster.env"));
        Path directory = cluster.toAbsolutePath().getParent();
        return new ConfigFiles(directory == null ? DEFAULT_DIRECTORY : directory, sidecar, cluster);
    }

    private static Path envPath(Map<String, String> environment, String name, Path fallback) {
        String value = environment.get(name);
        return value == null || value.isEmpty() ? fallback : Path.of(value);
    }
}
