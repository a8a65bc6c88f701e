package io.istiovm.agent.sds;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Where the SDS server listens ({@code socket}, absolute), which group may connect besides the agent's own user
 * ({@code socketGroup}: Envoy's group; empty leaves the socket's group as created), whose connections it serves
 * ({@code envoyUid}, and root), the directories {@code file-root:}/{@code file-cert:} names may point into
 * ({@code fileDirectories}, absolute), where it looks for the OS trust bundle of {@code file-root:system}
 * ({@code osTrustBundles}, the first that exists), and how often it looks at the files it serves for changes.
 */
public record SdsSettings(Path socket, OptionalInt socketGroup, int envoyUid, List<Path> fileDirectories,
                          List<Path> osTrustBundles, Duration filePollInterval) {

    /**
     * pilot-agent's list, in its order (Istio 1.31-dev {@code pkg/security/security.go} {@code GetOSRootFilePath},
     * from Go's {@code crypto/x509/root_linux.go}).
     */
    public static final List<Path> OS_TRUST_BUNDLES = List.of(
            Path.of("/etc/ssl/certs/ca-certificates.crt"),              // Debian, Ubuntu, Gentoo
            Path.of("/etc/pki/tls/certs/ca-bundle.crt"),                // Fedora, RHEL 6
            Path.of("/etc/ssl/ca-bundle.pem"),                          // openSUSE
            Path.of("/etc/pki/tls/cacert.pem"),                         // OpenELEC
            Path.of("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"), // CentOS, RHEL 7
            Path.of("/etc/ssl/cert.pem"),                               // Alpine
            Path.of("/usr/local/etc/ssl/cert.pem"),                     // FreeBSD
            Path.of("/etc/ssl/certs/ca-certificates"));                 // Talos

    /** sun_path holds 108 bytes with the terminating NUL. */
    public static final int MAX_SOCKET_PATH_BYTES = 107;

    /** pilot-agent watches with inotify; a poll this often is the agent's (bounded, link-safe) equivalent. */
    public static final Duration FILE_POLL_INTERVAL = Duration.ofSeconds(5);

    public SdsSettings {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(socketGroup, "socketGroup");
        socket = socket.toAbsolutePath();
        if (socket.getParent() == null) {
            throw new IllegalArgumentException("the SDS socket needs a directory: " + socket);
        }
        if (envoyUid < 0) {
            throw new IllegalArgumentException("Envoy's uid must not be negative: " + envoyUid);
        }
        fileDirectories = List.copyOf(fileDirectories);
        for (Path directory : fileDirectories) {
            if (!directory.isAbsolute() || !directory.normalize().equals(directory)) {
                throw new IllegalArgumentException("not an absolute path in normal form: " + directory);
            }
        }
        osTrustBundles = List.copyOf(osTrustBundles);
        if (filePollInterval.isNegative() || filePollInterval.isZero()) {
            throw new IllegalArgumentException("the file poll interval must be positive: " + filePollInterval);
        }
    }
}
