package io.istiovm.agent.certs;

import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Decides whether a key, a chain and roots form a usable identity at a given instant: the key matches the leaf,
 * every link of the chain is signed by the next and ends at a root, every certificate is within its validity
 * window, and the leaf carries exactly one SPIFFE URI SAN that matches the expectation. All problems are
 * collected, each naming the file it concerns.
 */
public final class IdentityValidator {
    private static final int SAN_URI = 6;

    private final IdentityExpectation expectation;
    private final String keyName;
    private final String chainName;
    private final String rootName;

    public IdentityValidator(IdentityExpectation expectation, String keyName, String chainName, String rootName) {
        this.expectation = expectation;
        this.keyName = keyName;
        this.chainName = chainName;
        this.rootName = rootName;
    }

    public WorkloadIdentity validate(PrivateKey key, List<X509Certificate> chain, List<X509Certificate> roots,
                                     Instant now) throws InvalidIdentityException {
        List<String> problems = new ArrayList<>();
        X509Certificate leaf = chain.get(0);
        if (!keyMatches(key, leaf.getPublicKey())) {
            problems.add(keyName + ": the private key does not belong to the leaf certificate of " + chainName
                    + " (" + describe(leaf) + ")");
        }
        checkValidity(chainName, "the leaf certificate", leaf, now, problems);
        for (int i = 1; i < chain.size(); i++) {
            checkValidity(chainName, "certificate " + (i + 1) + " (" + describe(chain.get(i)) + ")", chain.get(i), now, problems);
        }
        checkLeafUsage(leaf, problems);
        // A root-cert.pem may carry several roots (a root rotation in progress): an expired or not yet valid one
        // is skipped, as a TLS stack does with an unusable trust anchor, as long as the chain leads to a valid one.
        List<X509Certificate> usableRoots = new ArrayList<>();
        List<String> rootProblems = new ArrayList<>();
        for (X509Certificate root : roots) {
            int before = rootProblems.size();
            checkValidity(rootName, "the root certificate (" + describe(root) + ")", root, now, rootProblems);
            if (rootProblems.size() == before) {
                usableRoots.add(root);
            }
        }
        if (usableRoots.isEmpty()) {
            problems.addAll(rootProblems);
        } else {
            int before = problems.size();
            checkChain(chain, usableRoots, problems);
            if (problems.size() > before) {
                problems.addAll(rootProblems);
            }
        }
        SpiffeId id = spiffeId(leaf, problems);
        if (id != null) {
            checkExpectation(id, problems);
        }
        if (!problems.isEmpty()) {
            throw new InvalidIdentityException(problems);
        }
        return new WorkloadIdentity(key, chain, roots, id);
    }

    private static void checkValidity(String file, String what, X509Certificate cert, Instant now,
                                      List<String> problems) {
        Instant notBefore = cert.getNotBefore().toInstant();
        Instant notAfter = cert.getNotAfter().toInstant();
        if (!now.isBefore(notAfter)) {
            problems.add(file + ": " + what + " expired at " + notAfter + " (now " + now + ")");
        } else if (now.isBefore(notBefore)) {
            problems.add(file + ": " + what + " is not valid before " + notBefore + " (now " + now
                    + "; is the clock right?)");
        }
    }

    private void checkChain(List<X509Certificate> chain, List<X509Certificate> roots, List<String> problems) {
        for (int i = 0; i + 1 < chain.size(); i++) {
            X509Certificate child = chain.get(i);
            X509Certificate parent = chain.get(i + 1);
            if (!signedBy(child, parent)) {
                problems.add(chainName + ": certificate " + (i + 1) + " (" + describe(child)
                        + ") is not signed by certificate " + (i + 2) + " (" + describe(parent) + ")");
                return;
            }
            if (parent.getBasicConstraints() < 0) {
                problems.add(chainName + ": certificate " + (i + 2) + " (" + describe(parent)
                        + ") signs others but is not a CA certificate");
                return;
            }
        }
        X509Certificate top = chain.get(chain.size() - 1);
        for (X509Certificate root : roots) {
            if (top.equals(root) || signedBy(top, root)) {
                return;
            }
        }
        problems.add(chainName + ": the chain does not lead to a certificate in " + rootName + " (top of chain: "
                + top.getIssuerX500Principal().getName() + ")");
    }

    /** keyUsage bit 0 (digitalSignature), as {@link X509Certificate#getKeyUsage()} numbers them. */
    private static final int DIGITAL_SIGNATURE = 0;
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";

    /**
     * The leaf is a workload certificate as Istio's CA issues it (security/pkg/pki/util, genCertTemplateFromCSR in
     * Istio 1.x: not a CA, keyUsage digitalSignature and keyEncipherment, extendedKeyUsage serverAuth and
     * clientAuth): a CA certificate would let its key sign other identities, and Envoy uses the one certificate
     * both to accept and to open mTLS connections. An absent keyUsage or extendedKeyUsage allows every use (RFC
     * 5280 4.2.1.3, 4.2.1.12).
     */
    private void checkLeafUsage(X509Certificate leaf, List<String> problems) {
        if (leaf.getBasicConstraints() >= 0) {
            problems.add(chainName + ": the leaf certificate is a CA certificate (basicConstraints CA:TRUE); a "
                    + "workload certificate must not be able to sign others");
        }
        boolean[] keyUsage = leaf.getKeyUsage();
        if (keyUsage != null && (keyUsage.length <= DIGITAL_SIGNATURE || !keyUsage[DIGITAL_SIGNATURE])) {
            problems.add(chainName + ": the leaf certificate's keyUsage lacks digitalSignature, which TLS needs");
        }
        try {
            List<String> extended = leaf.getExtendedKeyUsage();
            if (extended != null && !extended.contains(ANY_EXTENDED_KEY_USAGE)) {
                List<String> lacking = new ArrayList<>();
                if (!extended.contains(SERVER_AUTH)) {
                    lacking.add("serverAuth");
                }
                if (!extended.contains(CLIENT_AUTH)) {
                    lacking.add("clientAuth");
                }
                if (!lacking.isEmpty()) {
                    problems.add(chainName + ": the leaf certificate's extendedKeyUsage lacks "
                            + String.join(" and ", lacking) + " (mTLS uses it as both server and client)");
                }
            }
        } catch (CertificateParsingException e) {
            problems.add(chainName + ": the leaf certificate's extendedKeyUsage cannot be parsed");
        }
    }

    /** Subject DN, or the serial for workload certificates, whose subject is empty. */
    static String describe(X509Certificate cert) {
        String subject = cert.getSubjectX500Principal().getName();
        return subject.isEmpty() ? "serial " + cert.getSerialNumber().toString(16) : subject;
    }

    private static boolean signedBy(X509Certificate child, X509Certificate parent) {
        if (!child.getIssuerX500Principal().equals(parent.getSubjectX500Principal())) {
            return false;
        }
        try {
            child.verify(parent.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** Signs a fixed challenge with the key and verifies it with the certificate's public key. */
    static boolean keyMatches(PrivateKey key, PublicKey publicKey) {
        if (!key.getAlgorithm().equals(publicKey.getAlgorithm())) {
            return false;
        }
        String algorithm = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
        byte[] challenge = "istio-vm-agent key match".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(challenge);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private SpiffeId spiffeId(X509Certificate leaf, List<String> problems) {
        List<String> uris = uriSans(leaf);
        if (uris.isEmpty()) {
            problems.add(chainName + ": the leaf certificate has no URI SAN (expected spiffe://"
                    + expectation.trustDomain() + "/ns/<namespace>/sa/<service account>)");
            return null;
        }
        if (uris.size() > 1) {
            problems.add(chainName + ": the leaf certificate has " + uris.size() + " URI SANs (" + String.join(", ", uris)
                    + "); expected exactly one SPIFFE id");
            return null;
        }
        try {
            return SpiffeId.parse(uris.get(0));
        } catch (InvalidIdentityException e) {
            problems.add(chainName + ": the leaf certificate's " + e.getMessage());
            return null;
        }
    }

    /** URI subject alternative names of a certificate, in order. */
    public static List<String> uriSans(X509Certificate cert) {
        List<String> uris = new ArrayList<>();
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (((Integer) san.get(0)) == SAN_URI) {
                        uris.add((String) san.get(1));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return List.of();
        }
        return uris;
    }

    private void checkExpectation(SpiffeId id, List<String> problems) {
        String prefix = chainName + ": identity " + id + ": ";
        if (!id.trustDomain().equals(expectation.trustDomain())) {
            problems.add(prefix + "trust domain '" + id.trustDomain() + "' is not TRUST_DOMAIN '"
                    + expectation.trustDomain() + "'");
        }
        if (!id.namespace().equals(expectation.namespace())) {
            problems.add(prefix + "namespace '" + id.namespace() + "' is not ISTIO_NAMESPACE '"
                    + expectation.namespace() + "'");
        }
        Optional<String> sa = expectation.serviceAccount();
        if (sa.isPresent() && !id.serviceAccount().equals(sa.get())) {
            problems.add(prefix + "service account '" + id.serviceAccount() + "' is not SERVICE_ACCOUNT '" + sa.get()
                    + "'");
        }
    }
}
