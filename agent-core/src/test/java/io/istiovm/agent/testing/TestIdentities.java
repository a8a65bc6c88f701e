package io.istiovm.agent.testing;

import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.sds.ServedIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * Workload identities in the form SDS serves them, issued by a {@link TestPki} mesh root of their own: for tests
 * of SDS and Envoy that need certificates but no CA server. The version is the leaf's serial in hex, which is also
 * what Envoy's (and the stand-in's) {@code /certs} shows.
 */
public final class TestIdentities {
    private final TestPki pki;

    public TestIdentities() {
        Instant now = Instant.now();
        pki = TestPki.create("test mesh root", now.minusSeconds(60), now.plus(Duration.ofDays(30)));
    }

    /** A fresh key and a 24-hour certificate for {@code spiffe://cluster.local/ns/<ns>/sa/<sa>}. */
    public ServedIdentity issue(String namespace, String serviceAccount) {
        KeyPair keys = TestPki.ecKeys();
        Instant now = Instant.now();
        X509Certificate leaf = pki.issue(keys.getPublic(), List.of(TestCa.identity(namespace, serviceAccount)),
                List.of(), now.minusSeconds(60), now.plus(Duration.ofHours(24)));
        return new ServedIdentity(Pem.encodeCertificates(pki.chainFor(leaf)),
                new String(Pem.encodePrivateKey(keys.getPrivate(), true), StandardCharsets.US_ASCII),
                Pem.encodeCertificates(List.of(pki.root())), leaf.getSerialNumber().toString(16));
    }

    public ServedIdentity issue() {
        return issue("default", "default");
    }

    /**
     * Writes {@code identity} as the three files an operator places in /etc/certs: the key first and 0600 (the
     * agent refuses a key others can read), the chain last, so that a watching agent sees a complete set once the
     * chain changes.
     */
    public static void writeFiles(ServedIdentity identity, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path key = dir.resolve("key.pem");
        Files.writeString(key, identity.privateKeyPem());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        Files.writeString(dir.resolve("root-cert.pem"), identity.rootCertificatePem());
        Files.writeString(dir.resolve("cert-chain.pem"), identity.certificateChainPem());
    }
}
