package io.istiovm.agent.certs;

import io.istiovm.agent.fs.HeldDirectory;
import java.io.IOException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;

/**
 * The SPIFFE id of the certificate the VM already has, read without judging it: the guide copies the namespace's
 * {@code istio.default} secret and writes no ISTIO_NAMESPACE, so the certificate is where the workload's namespace
 * and service account are written down. Whether the identity is usable is the validator's business; anything
 * unreadable here is simply no answer.
 */
public final class IssuedIdentity {
    /** A certificate chain larger than this is not one the agent would accept anyway. */
    private static final long CHAIN_LIMIT = 1 << 20;

    private IssuedIdentity() {
    }

    /** The id in the first directory (in the order the identity is loaded) whose leaf carries one SPIFFE id. */
    public static Optional<SpiffeId> find(List<Path> directories) {
        for (Path dir : directories) {
            Optional<SpiffeId> id = read(dir.resolve(CertsDirectory.CHAIN));
            if (id.isPresent()) {
                return id;
            }
        }
        return Optional.empty();
    }

    private static Optional<SpiffeId> read(Path chain) {
        try {
            // The names are links into ..data when the agent wrote them: read the file they end at, as a regular
            // file only (a FIFO planted there must not block the agent).
            Path file = chain.toRealPath();
            byte[] pem = HeldDirectory.readRegularFile(file, CHAIN_LIMIT).content();
            List<X509Certificate> certs = Pem.certificates(chain.toString(), pem);
            return certs.isEmpty() ? Optional.empty() : SpiffeId.of(certs.get(0));
        } catch (IOException | InvalidIdentityException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
