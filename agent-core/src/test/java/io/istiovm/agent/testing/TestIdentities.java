package io.istiovm.agent.testing;

import io.istiovm.agent.sds.ServedIdentity;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Throw-away workload identities for SDS tests, from a mesh root of its own: a self-signed EC P-256 root that issues workload certificates with a SPIFFE
 * URI SAN and increasing serial numbers, returned as the {@link ServedIdentity} SDS serves (version = serial
 * in hex, which is also what Envoy's {@code /certs} shows).
 */
public final class TestIdentities {
    private final KeyPair rootKey;
    private final X509CertificateHolder root;
    private final AtomicLong serials = new AtomicLong(0x1000);

    public TestIdentities() {
        try {
            rootKey = newKey();
            Instant now = Instant.now();
            X500Name name = new X500Name("O=cluster.local,CN=test mesh root");
            root = new JcaX509v3CertificateBuilder(name, BigInteger.ONE, Date.from(now.minusSeconds(60)),
                    Date.from(now.plus(Duration.ofDays(30))), name, rootKey.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKey.getPrivate()));
        } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A fresh key and certificate for {@code spiffe://cluster.local/ns/<ns>/sa/<sa>}. */
    public ServedIdentity issue(String namespace, String serviceAccount) {
        try {
            KeyPair key = newKey();
            BigInteger serial = BigInteger.valueOf(serials.incrementAndGet());
            Instant now = Instant.now();
            X509CertificateHolder leaf = new JcaX509v3CertificateBuilder(root.getSubject(), serial,
                    Date.from(now.minusSeconds(60)), Date.from(now.plus(Duration.ofHours(24))), new X500Name(""),
                    key.getPublic())
                    .addExtension(Extension.subjectAlternativeName, true, new GeneralNames(new GeneralName(
                            GeneralName.uniformResourceIdentifier,
                            "spiffe://cluster.local/ns/" + namespace + "/sa/" + serviceAccount)))
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKey.getPrivate()));
            return new ServedIdentity(pem(leaf) + pem(root), pem(key.getPrivate()), pem(root),
                    serial.toString(16));
        } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    public ServedIdentity issue() {
        return issue("default", "default");
    }

    private static KeyPair newKey() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    private static String pem(Object object) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }
}
