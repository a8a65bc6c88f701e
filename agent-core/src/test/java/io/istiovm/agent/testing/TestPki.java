package io.istiovm.agent.testing;

import io.istiovm.agent.certs.Pem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A throw-away certificate authority for tests: a self-signed root (EC P-256 unless asked otherwise) that issues
 * leaf certificates with any SANs and validity window, and writes identity directories exactly as an operator
 * (or istioctl) would. Certificates are built with BouncyCastle's PKIX classes and signed by the JDK's providers;
 * the BC provider is never registered, so tests exercise the same crypto stack as the agent.
 */
public final class TestPki {
    private static final AtomicLong SERIALS = new AtomicLong(System.nanoTime() & 0xffffffffL);

    private final String name;
    private final KeyPair keys;
    private final X509Certificate root;

    private TestPki(String name, KeyPair keys, X509Certificate root) {
        this.name = name;
        this.keys = keys;
        this.root = root;
    }

    /** A root named {@code CN=<name>, O=istio-vm-agent tests} valid from {@code notBefore} to {@code notAfter}. */
    public static TestPki create(String name, Instant notBefore, Instant notAfter) {
        KeyPair keys = ecKeys();
        X500Name subject = new X500Name("CN=" + name + ",O=istio-vm-agent tests");
        X509Certificate root = sign(keys.getPrivate(), subject, subject, keys.getPublic(), notBefore, notAfter,
                true, List.of());
        return new TestPki(name, keys, root);
    }

    public String name() {
        return name;
    }

    public X509Certificate root() {
        return root;
    }

    public static KeyPair ecKeys() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return recorded(generator.generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static KeyPair recorded(KeyPair keys) {
        SecretMaterial.record(java.util.Base64.getEncoder().encodeToString(keys.getPrivate().getEncoded()));
        return keys;
    }

    public static KeyPair rsaKeys(int bits) {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(bits);
            return recorded(generator.generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A leaf for {@code key} with the given URI and DNS SANs (either may be empty). */
    public X509Certificate issue(PublicKey key, List<String> uriSans, List<String> dnsSans, Instant notBefore,
                                 Instant notAfter) {
        List<GeneralName> names = new ArrayList<>();
        uriSans.forEach(uri -> names.add(new GeneralName(GeneralName.uniformResourceIdentifier, uri)));
        dnsSans.forEach(dns -> names.add(new GeneralName(GeneralName.dNSName, dns)));
        return sign(keys.getPrivate(), X500Name.getInstance(root.getSubjectX500Principal().getEncoded()),
                new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), key, notBefore, notAfter, false, names);
    }

    /**
     * A leaf Istio's CA would not issue, for the validator's tests: a CA certificate when {@code ca}, and
     * extendedKeyUsage {@code purposes} (none at all when empty).
     */
    public X509Certificate issueUnusual(PublicKey key, String uriSan, Instant notBefore, Instant notAfter, boolean ca,
                                        List<org.bouncycastle.asn1.x509.KeyPurposeId> purposes) {
        return sign(keys.getPrivate(), X500Name.getInstance(root.getSubjectX500Principal().getEncoded()),
                new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), key, notBefore, notAfter, ca, purposes,
                List.of(new GeneralName(GeneralName.uniformResourceIdentifier, uriSan)));
    }

    /** An intermediate CA under this root. */
    public TestPki intermediate(String childName, Instant notBefore, Instant notAfter) {
        KeyPair childKeys = ecKeys();
        X509Certificate cert = sign(keys.getPrivate(), X500Name.getInstance(root.getSubjectX500Principal()
                .getEncoded()), new X500Name("CN=" + childName + ",O=istio-vm-agent tests"), childKeys.getPublic(),
                notBefore, notAfter, true, List.of());
        return new TestPki(childName, childKeys, cert);
    }

    /** As Istio's CA issues workload certificates (security/pkg/pki/util, Istio 1.x): server and client auth. */
    private static final List<org.bouncycastle.asn1.x509.KeyPurposeId> WORKLOAD_PURPOSES = List.of(
            org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_serverAuth,
            org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_clientAuth);

    private static X509Certificate sign(PrivateKey signer, X500Name issuer, X500Name subject, PublicKey key,
                                        Instant notBefore, Instant notAfter, boolean ca, List<GeneralName> sans) {
        return sign(signer, issuer, subject, key, notBefore, notAfter, ca, ca ? List.of() : WORKLOAD_PURPOSES, sans);
    }

    private static X509Certificate sign(PrivateKey signer, X500Name issuer, X500Name subject, PublicKey key,
                                        Instant notBefore, Instant notAfter, boolean ca,
                                        List<org.bouncycastle.asn1.x509.KeyPurposeId> purposes,
                                        List<GeneralName> sans) {
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(issuer,
                    BigInteger.valueOf(SERIALS.incrementAndGet()).shiftLeft(32).add(BigInteger.valueOf(
                            new SecureRandom().nextInt() & 0x7fffffffL)),
                    Date.from(notBefore), Date.from(notAfter), subject, key);
            if (ca) {
                builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
                builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                builder.addExtension(Extension.keyUsage, true,
                        new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            }
            if (!purposes.isEmpty()) {
                builder.addExtension(Extension.extendedKeyUsage, false, new org.bouncycastle.asn1.x509.ExtendedKeyUsage(
                        purposes.toArray(org.bouncycastle.asn1.x509.KeyPurposeId[]::new)));
            }
            if (!sans.isEmpty()) {
                builder.addExtension(Extension.subjectAlternativeName, subject.getRDNs().length == 0,
                        new GeneralNames(sans.toArray(GeneralName[]::new)));
            }
            String algorithm = signer.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
            return new JcaX509CertificateConverter().getCertificate(builder.build(
                    new JcaContentSignerBuilder(algorithm).build(signer)));
        } catch (Exception e) {
            throw new IllegalStateException("cannot issue a test certificate", e);
        }
    }

    /** The chain to put in cert-chain.pem for a leaf issued by this PKI: leaf, then this CA unless it is a root. */
    public List<X509Certificate> chainFor(X509Certificate leaf) {
        return root.getSubjectX500Principal().equals(root.getIssuerX500Principal()) ? List.of(leaf)
                : List.of(leaf, root);
    }

    /** Issues a leaf for {@code spiffeUri} and writes key.pem (0600, PKCS#8), cert-chain.pem, root-cert.pem. */
    public X509Certificate writeIdentity(Path dir, String spiffeUri, Instant notBefore, Instant notAfter,
                                         X509Certificate trustRoot) {
        KeyPair leafKeys = ecKeys();
        X509Certificate leaf = issue(leafKeys.getPublic(), List.of(spiffeUri), List.of(), notBefore, notAfter);
        writeFiles(dir, Pem.encodePrivateKey(leafKeys.getPrivate(), true), chainFor(leaf), List.of(trustRoot));
        return leaf;
    }

    /** Writes the three files as plain files with the modes Istio's tooling uses. */
    public static void writeFiles(Path dir, byte[] keyPem, List<X509Certificate> chain, List<X509Certificate> roots) {
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("key.pem"), keyPem);
            Files.setPosixFilePermissions(dir.resolve("key.pem"), PosixFilePermissions.fromString("rw-------"));
            Files.writeString(dir.resolve("cert-chain.pem"), Pem.encodeCertificates(chain), StandardCharsets.US_ASCII);
            Files.writeString(dir.resolve("root-cert.pem"), Pem.encodeCertificates(roots), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
