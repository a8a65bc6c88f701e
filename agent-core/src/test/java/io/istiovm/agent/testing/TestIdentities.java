package io.istiovm.agent.testing;

import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.sds.ServedIdentity;
import java.nio.charset.StandardCharsets;
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
}
