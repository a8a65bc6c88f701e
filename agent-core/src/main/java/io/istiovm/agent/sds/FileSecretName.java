package io.istiovm.agent.sds;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The SDS resource names that stand for files, as pilot-agent reads them (Istio 1.31-dev,
 * {@code pkg/security/security.go} {@code SdsCertificateConfigFromResourceName}, unchanged since 1.8):
 * {@code file-root:system} is the OS trust bundle, {@code file-root:<path>} a trust bundle, and
 * {@code file-cert:<cert>~<key>} a certificate chain and its key. istiod puts these names in the TLS contexts of
 * DestinationRules and gateways that name files instead of a credentialName.
 *
 * <p>Any other name, including a {@code file-} name of the wrong shape (a {@code file-cert:} without exactly one
 * {@code ~}, a {@code file-root:} with one), is not a file here, as in pilot-agent, which then serves the workload
 * certificate under that name.
 */
sealed interface FileSecretName {
    String FILE_ROOT = "file-root:";
    String FILE_CERT = "file-cert:";
    String SYSTEM = FILE_ROOT + "system";
    String SEPARATOR = "~";

    /** The resource name Envoy asked for. */
    String name();

    /** The files it is read from, as named (checked by {@link SecretFileReader}), the bundle or the chain first. */
    List<String> files();

    /** {@code file-root:system}: the bundle the agent picked at prepare ({@code bundle}; empty when none exists). */
    record SystemRoots(Optional<Path> bundle) implements FileSecretName {
        @Override
        public String name() {
            return SYSTEM;
        }

        @Override
        public List<String> files() {
            return bundle.stream().map(Path::toString).toList();
        }
    }

    /** {@code file-root:<path>}. */
    record RootFile(String name, String bundle) implements FileSecretName {
        @Override
        public List<String> files() {
            return List.of(bundle);
        }
    }

    /** {@code file-cert:<chain>~<key>}. */
    record CertFile(String name, String chain, String key) implements FileSecretName {
        @Override
        public List<String> files() {
            return List.of(chain, key);
        }
    }

    /** The file resource {@code name} stands for, or empty when it is not one (see the class comment). */
    static Optional<FileSecretName> parse(String name, Optional<Path> systemBundle) {
        if (name.equals(SYSTEM)) {
            return Optional.of(new SystemRoots(systemBundle));
        }
        if (name.startsWith(FILE_CERT)) {
            String[] parts = name.substring(FILE_CERT.length()).split(SEPARATOR, -1);
            return parts.length == 2 ? Optional.of(new CertFile(name, parts[0], parts[1]))
                    : Optional.empty();
        }
        if (name.startsWith(FILE_ROOT)) {
            String rest = name.substring(FILE_ROOT.length());
            return rest.contains(SEPARATOR) ? Optional.empty() : Optional.of(new RootFile(name, rest));
        }
        return Optional.empty();
    }
}
