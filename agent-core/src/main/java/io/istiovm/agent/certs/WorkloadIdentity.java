package io.istiovm.agent.certs;

import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;

/**
 * A key, the certificate chain that names it (leaf first) and the trust anchors, already checked by
 * {@link IdentityValidator}. Immutable; {@link #toString()} never shows the key.
 */
public final class WorkloadIdentity {
    private final PrivateKey key;
    private final List<X509Certificate> chain;
    private final List<X509Certificate> roots;
    private final SpiffeId spiffeId;

    WorkloadIdentity(PrivateKey key, List<X509Certificate> chain, List<X509Certificate> roots, SpiffeId spiffeId) {
        if (chain.isEmpty() || roots.isEmpty()) {
            throw new IllegalArgumentException("an identity needs a leaf certificate and a root");
        }
        this.key = key;
        this.chain = List.copyOf(chain);
        this.roots = List.copyOf(roots);
        this.spiffeId = spiffeId;
    }

    public PrivateKey key() {
        return key;
    }

    public X509Certificate leaf() {
        return chain.get(0);
    }

    /** Leaf first, then intermediates (and the root if the CA included it), as in cert-chain.pem. */
    public List<X509Certificate> chain() {
        return chain;
    }

    public List<X509Certificate> roots() {
        return roots;
    }

    public SpiffeId spiffeId() {
        return spiffeId;
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    public Duration lifetime() {
        return Duration.between(notBefore(), notAfter());
    }

    public BigInteger serial() {
        return leaf().getSerialNumber();
    }

    /** Serial as colon-separated hex, as openssl prints it. */
    public String serialHex() {
        byte[] bytes = serial().toByteArray();
        return HexFormat.ofDelimiter(":").formatHex(bytes);
    }

    public boolean isValidAt(Instant now) {
        return !now.isBefore(notBefore()) && now.isBefore(notAfter());
    }

    /** Same leaf certificate (the key is bound to it, so same identity files). */
    public boolean sameLeafAs(WorkloadIdentity other) {
        return other != null && leaf().equals(other.leaf());
    }

    @Override
    public String toString() {
        return spiffeId + " serial " + serialHex() + " valid " + notBefore() + " to " + notAfter();
    }
}
