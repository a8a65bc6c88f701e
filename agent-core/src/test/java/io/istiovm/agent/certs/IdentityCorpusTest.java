package io.istiovm.agent.certs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.TestPki;
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
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad certificate and key files, each refused with its exact message; and the good forms (PKCS#1, PKCS#8,
 * SEC1, RSA and EC, openssl's own output) accepted. Every case starts from a valid directory and breaks one thing.
 */
class IdentityCorpusTest {
    private static final Instant NOW = Instant.parse("2026-06-01T12:00:00Z");
    private static final String ID = "spiffe://cluster.local/ns/vm/sa/web";
    private static final IdentityExpectation EXPECT = new IdentityExpectation("cluster.local", "vm", Optional.of("web"));

    @TempDir
    Path dir;
    private final TestPki pki = TestPki.create("Corpus root", NOW.minus(Duration.ofDays(10)), NOW.plus(Duration.ofDays(10)));
    private KeyPair keys;
    private X509Certificate leaf;
    private CertsDirectory certs;

    @BeforeEach
    void writeValidIdentity() {
        keys = TestPki.ecKeys();
        leaf = leaf(List.of(ID), NOW.minus(Duration.ofHours(1)), NOW.plus(Duration.ofHours(23)));
        TestPki.writeFiles(dir, Pem.encodePrivateKey(keys.getPrivate(), true), List.of(leaf), List.of(pki.root()));
        certs = new CertsDirectory(dir);
    }

    private X509Certificate leaf(List<String> uris, Instant notBefore, Instant notAfter) {
        return pki.issue(keys.getPublic(), uris, List.of(), notBefore, notAfter);
    }

    private void writeChain(X509Certificate... chain) throws IOException {
        Files.writeString(dir.resolve("cert-chain.pem"), Pem.encodeCertificates(List.of(chain)));
    }

    private void write(String name, String content) throws IOException {
        Files.writeString(dir.resolve(name), content, StandardCharsets.US_ASCII);
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    private void assertRefused(String message) {
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(message);
    }

    @Test
    void validDirectoryLoads() throws Exception {
        WorkloadIdentity identity = certs.load(EXPECT, NOW);
        assertThat(identity.spiffeId().uri()).isEqualTo(ID);
        assertThat(identity.leaf()).isEqualTo(leaf);
        assertThat(identity.toString()).doesNotContain("PRIVATE").contains(ID);
    }

    @Test
    void emptyKeyFile() throws Exception {
        write("key.pem", "");
        assertRefused(path("key.pem") + ": the file is empty");
    }

    @Test
    void emptyChainFile() throws Exception {
        write("cert-chain.pem", "\n\n");
        assertRefused(path("cert-chain.pem") + ": the file is empty");
    }

    @Test
    void truncatedPem() throws Exception {
        String pem = Pem.encodeCertificates(List.of(leaf));
        write("cert-chain.pem", pem.substring(0, pem.length() / 2));
        assertRefused(path("cert-chain.pem") + ": line 1: BEGIN CERTIFICATE has no END line (truncated file?)");
    }

    @Test
    void derInsteadOfPem() throws Exception {
        Files.write(dir.resolve("cert-chain.pem"), leaf.getEncoded());
        assertRefused(path("cert-chain.pem") + ": binary DER, not PEM (convert it with openssl, e.g. "
                + "`openssl x509 -inform der -outform pem`)");
    }

    @Test
    void noPemBlockAtAll() throws Exception {
        write("root-cert.pem", "this is not a certificate\n");
        assertRefused(path("root-cert.pem") + ": no PEM block (-----BEGIN ...-----) found");
    }

    @Test
    void invalidBase64() throws Exception {
        write("cert-chain.pem", "-----BEGIN CERTIFICATE-----\nMIIB!!!not*base64\n-----END CERTIFICATE-----\n");
        assertRefused(path("cert-chain.pem") + ": line 1: the CERTIFICATE block is not valid base64");
    }

    @Test
    void base64ThatIsNotACertificate() throws Exception {
        write("cert-chain.pem", "\n-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n");
        assertRefused(path("cert-chain.pem") + ": line 2: the CERTIFICATE block is not a valid X.509 certificate");
    }

    @Test
    void mismatchedBeginAndEnd() throws Exception {
        write("cert-chain.pem", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END PRIVATE KEY-----\n");
        assertRefused(path("cert-chain.pem") + ": line 3: END PRIVATE KEY does not close BEGIN CERTIFICATE of line 1");
    }

    @Test
    void keyWhereCertificatesBelong() throws Exception {
        Files.write(dir.resolve("cert-chain.pem"), Pem.encodePrivateKey(keys.getPrivate(), true));
        assertRefused(path("cert-chain.pem") + ": line 1: expected CERTIFICATE, found PRIVATE KEY");
    }

    @Test
    void certificateWhereTheKeyBelongs() throws Exception {
        writeChain(leaf);
        Files.copy(dir.resolve("cert-chain.pem"), dir.resolve("key.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(dir.resolve("key.pem"), PosixFilePermissions.fromString("rw-------"));
        assertRefused(path("key.pem") + ": line 1: expected a private key, found CERTIFICATE");
    }

    @Test
    void twoKeys() throws Exception {
        byte[] one = Pem.encodePrivateKey(keys.getPrivate(), true);
        write("key.pem", new String(one, StandardCharsets.US_ASCII) + new String(one, StandardCharsets.US_ASCII));
        assertRefused(path("key.pem") + ": holds 2 private keys; expected exactly one");
    }

    @Test
    void encryptedPkcs8Key() throws Exception {
        write("key.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n"
                + "-----END ENCRYPTED PRIVATE KEY-----\n");
        assertRefused(path("key.pem") + ": line 1: the private key is encrypted; the agent needs it unencrypted "
                + "(openssl pkey -in key.pem -out key.pem)");
    }

    @Test
    void encryptedTraditionalKey() throws Exception {
        write("key.pem", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                + "DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\nMIIEpAIBAAKCAQEA\n"
                + "-----END RSA PRIVATE KEY-----\n");
        assertRefused(path("key.pem") + ": line 1: the private key is encrypted; the agent needs it unencrypted "
                + "(openssl pkey -in key.pem -out key.pem)");
    }

    @Test
    void keyReadableByOthers() throws Exception {
        Files.setPosixFilePermissions(dir.resolve("key.pem"), PosixFilePermissions.fromString("rw-r--r--"));
        assertRefused(path("key.pem") + ": mode 0644 lets other users read or change the private key; expected 0600 "
                + "(chmod 600 " + path("key.pem") + ")");
    }

    @Test
    void keyOfAnotherCertificate() throws Exception {
        Files.write(dir.resolve("key.pem"), Pem.encodePrivateKey(TestPki.ecKeys().getPrivate(), false));
        assertRefused(path("key.pem") + ": the private key does not belong to the leaf certificate of "
                + path("cert-chain.pem") + " (serial " + leaf.getSerialNumber().toString(16) + ")");
    }

    @Test
    void rsaKeyForAnEcCertificate() throws Exception {
        Files.write(dir.resolve("key.pem"), Pem.encodePrivateKey(TestPki.rsaKeys(2048).getPrivate(), false));
        assertRefused(path("key.pem") + ": the private key does not belong to the leaf certificate of "
                + path("cert-chain.pem") + " (serial " + leaf.getSerialNumber().toString(16) + ")");
    }

    @Test
    void expiredCertificate() throws Exception {
        writeChain(leaf(List.of(ID), NOW.minus(Duration.ofDays(2)), NOW.minus(Duration.ofDays(1))));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate expired at 2026-05-31T12:00:00Z "
                + "(now 2026-06-01T12:00:00Z)");
    }

    @Test
    void notYetValidCertificate() throws Exception {
        writeChain(leaf(List.of(ID), NOW.plus(Duration.ofHours(2)), NOW.plus(Duration.ofDays(1))));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate is not valid before 2026-06-01T14:00:00Z "
                + "(now 2026-06-01T12:00:00Z; is the clock right?)");
    }

    @Test
    void noSpiffeSan() throws Exception {
        writeChain(pki.issue(keys.getPublic(), List.of(), List.of("vm.example.com"), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1))));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate has no URI SAN (expected "
                + "spiffe://cluster.local/ns/<namespace>/sa/<service account>)");
    }

    @Test
    void twoSans() throws Exception {
        writeChain(leaf(List.of(ID, "spiffe://cluster.local/ns/vm/sa/db"), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1))));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate has 2 URI SANs (" + ID
                + ", spiffe://cluster.local/ns/vm/sa/db); expected exactly one SPIFFE id");
    }

    @Test
    void uriSanThatIsNotAnIstioSpiffeId() throws Exception {
        writeChain(leaf(List.of("spiffe://cluster.local/workload/web"), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1))));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate's URI SAN 'spiffe://cluster.local/workload/web' "
                + "is not of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>");
    }

    @Test
    void wrongTrustDomainNamespaceAndServiceAccountAreAllReported() throws Exception {
        writeChain(leaf(List.of("spiffe://other.mesh/ns/prod/sa/db"), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1))));
        String prefix = path("cert-chain.pem") + ": identity spiffe://other.mesh/ns/prod/sa/db: ";
        assertRefused(prefix + "trust domain 'other.mesh' is not TRUST_DOMAIN 'cluster.local'; "
                + prefix + "namespace 'prod' is not ISTIO_NAMESPACE 'vm'; "
                + prefix + "service account 'db' is not SERVICE_ACCOUNT 'web'");
    }

    @Test
    void chainFromAnotherCa() throws Exception {
        TestPki other = TestPki.create("Other root", NOW.minus(Duration.ofDays(1)), NOW.plus(Duration.ofDays(1)));
        writeChain(other.issue(keys.getPublic(), List.of(ID), List.of(), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1))));
        assertRefused(path("cert-chain.pem") + ": the chain does not lead to a certificate in " + path("root-cert.pem")
                + " (top of chain: O=istio-vm-agent tests,CN=Other root)");
    }

    @Test
    void brokenLinkInTheChain() throws Exception {
        TestPki intermediate = pki.intermediate("Intermediate", NOW.minus(Duration.ofDays(1)), NOW.plus(Duration.ofDays(1)));
        TestPki unrelated = TestPki.create("Unrelated", NOW.minus(Duration.ofDays(1)), NOW.plus(Duration.ofDays(1)));
        X509Certificate signedByUnrelated = unrelated.issue(keys.getPublic(), List.of(ID), List.of(),
                NOW.minus(Duration.ofHours(1)), NOW.plus(Duration.ofHours(1)));
        writeChain(signedByUnrelated, intermediate.root());
        assertRefused(path("cert-chain.pem") + ": certificate 1 (serial "
                + signedByUnrelated.getSerialNumber().toString(16) + ") is not signed by certificate 2 "
                + "(O=istio-vm-agent tests,CN=Intermediate)");
    }

    @Test
    void expiredRoot() throws Exception {
        TestPki old = TestPki.create("Old root", NOW.minus(Duration.ofDays(30)), NOW.minus(Duration.ofDays(1)));
        X509Certificate oldLeaf = old.issue(keys.getPublic(), List.of(ID), List.of(), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1)));
        writeChain(oldLeaf);
        Files.writeString(dir.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(old.root())));
        assertRefused(path("root-cert.pem") + ": the root certificate (O=istio-vm-agent tests,CN=Old root) expired at "
                + old.root().getNotAfter().toInstant() + " (now 2026-06-01T12:00:00Z)");
    }

    @Test
    void noFilesAtAll() throws Exception {
        for (String name : List.of("key.pem", "cert-chain.pem", "root-cert.pem")) {
            Files.delete(dir.resolve(name));
        }
        assertRefused(dir + ": no identity files (root-cert.pem, cert-chain.pem, key.pem)");
    }

    @Test
    void missingRoot() throws Exception {
        Files.delete(dir.resolve("root-cert.pem"));
        assertRefused(path("root-cert.pem") + ": missing");
    }

    @Test
    void acceptsEveryUnencryptedKeyFormOfBothAlgorithms() throws Exception {
        for (KeyPair pair : List.of(TestPki.ecKeys(), TestPki.rsaKeys(2048))) {
            keys = pair;
            writeChain(leaf(List.of(ID), NOW.minus(Duration.ofHours(1)), NOW.plus(Duration.ofHours(1))));
            for (boolean pkcs8 : new boolean[] {true, false}) {
                Files.write(dir.resolve("key.pem"), Pem.encodePrivateKey(pair.getPrivate(), pkcs8));
                String header = Files.readAllLines(dir.resolve("key.pem")).get(0);
                assertThat(header).isEqualTo(pkcs8 ? "-----BEGIN PRIVATE KEY-----" : pair.getPrivate().getAlgorithm()
                        .equals("EC") ? "-----BEGIN EC PRIVATE KEY-----" : "-----BEGIN RSA PRIVATE KEY-----");
                assertThat(certs.load(EXPECT, NOW).key().getAlgorithm()).isEqualTo(pair.getPrivate().getAlgorithm());
            }
        }
    }

    @Test
    void acceptsOpensslGeneratedEcKeyWithItsParametersBlock() throws Exception {
        Path keyFile = dir.resolve("key.pem");
        Files.delete(keyFile);
        Process openssl = new ProcessBuilder("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-out",
                keyFile.toString()).redirectErrorStream(true).start();
        assertThat(openssl.waitFor()).isZero();
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        assertThat(Files.readString(keyFile)).contains("BEGIN EC PARAMETERS").contains("BEGIN EC PRIVATE KEY");
        java.security.PrivateKey key = Pem.privateKey("key.pem", Files.readAllBytes(keyFile));
        assertThat(key.getAlgorithm()).isEqualTo("EC");
    }

    @Test
    void aRootCertWithOneExpiredRootStillVerifiesWithTheOthers() throws Exception {
        TestPki old = TestPki.create("Expired root", NOW.minus(Duration.ofDays(30)), NOW.minus(Duration.ofDays(1)));
        Files.writeString(dir.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(old.root(), pki.root())));
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(leaf);

        // Only the expired root left: refused, saying why.
        Files.writeString(dir.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(old.root())));
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(path("root-cert.pem") + ": the root certificate (" + old.root()
                        .getSubjectX500Principal().getName() + ") expired at");

        // A valid root that did not sign the chain, next to the expired one that did: refused.
        TestPki other = TestPki.create("Unrelated root", NOW.minus(Duration.ofDays(1)), NOW.plus(Duration.ofDays(1)));
        X509Certificate underOld = old.issue(keys.getPublic(), List.of(ID), List.of(), NOW.minus(Duration.ofHours(1)),
                NOW.plus(Duration.ofHours(1)));
        writeChain(underOld);
        Files.writeString(dir.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(old.root(), other.root())));
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(path("cert-chain.pem") + ": the chain does not lead to a certificate in")
                .hasMessageContaining("expired at");
    }

    @Test
    void aLeafThatIsACaOrLacksClientOrServerAuthIsRefused() throws Exception {
        Instant from = NOW.minus(Duration.ofHours(1));
        Instant to = NOW.plus(Duration.ofHours(1));
        writeChain(pki.issueUnusual(keys.getPublic(), ID, from, to, true, List.of()));
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(path("cert-chain.pem") + ": the leaf certificate is a CA certificate "
                        + "(basicConstraints CA:TRUE); a workload certificate must not be able to sign others");

        writeChain(pki.issueUnusual(keys.getPublic(), ID, from, to, false,
                List.of(org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_serverAuth)));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate's extendedKeyUsage lacks clientAuth (mTLS "
                + "uses it as both server and client)");

        writeChain(pki.issueUnusual(keys.getPublic(), ID, from, to, false,
                List.of(org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_codeSigning)));
        assertRefused(path("cert-chain.pem") + ": the leaf certificate's extendedKeyUsage lacks serverAuth and "
                + "clientAuth (mTLS uses it as both server and client)");

        // No extendedKeyUsage at all allows every use (RFC 5280), as older CAs issue.
        writeChain(pki.issueUnusual(keys.getPublic(), ID, from, to, false, List.of()));
        assertThat(certs.load(EXPECT, NOW).spiffeId().uri()).isEqualTo(ID);
    }
}
