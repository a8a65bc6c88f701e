package io.istiovm.agent.certs;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.pkcs.RSAPrivateKey;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;

/**
 * Strict PEM reading and writing for the three identity files. The block scanner is our own (rather than
 * BouncyCastle's PEMParser) so that every refusal names the line and the reason an operator can act on; the
 * ASN.1 inside each block is decoded by BouncyCastle and the JDK. Keys are converted with the JDK's own
 * KeyFactory ("RSA"/"EC"): the BC provider is never registered.
 */
public final class Pem {
    private static final Pattern BEGIN = Pattern.compile("^-----BEGIN ([A-Z0-9 ]+)-----\\s*$");
    private static final Pattern END = Pattern.compile("^-----END ([A-Z0-9 ]+)-----\\s*$");
    static final String CERTIFICATE = "CERTIFICATE";
    static final String PKCS8 = "PRIVATE KEY";
    static final String PKCS1_RSA = "RSA PRIVATE KEY";
    static final String SEC1_EC = "EC PRIVATE KEY";
    static final String ENCRYPTED_PKCS8 = "ENCRYPTED PRIVATE KEY";

    private Pem() {
    }

    /** One decoded block: its label, the line its BEGIN is on, its headers (RFC 1421) and its DER bytes. */
    record Block(String label, int line, boolean encrypted, byte[] der) {
    }

    /** Splits {@code content} into PEM blocks; {@code name} is used in messages. */
    static List<Block> blocks(String name, byte[] content) throws InvalidIdentityException {
        if (content.length == 0 || new String(content, StandardCharsets.ISO_8859_1).isBlank()) {
            throw new InvalidIdentityException(name + ": the file is empty");
        }
        if ((content[0] & 0xff) == 0x30) {
            throw new InvalidIdentityException(name + ": binary DER, not PEM (convert it with openssl, e.g. "
                    + "`openssl x509 -inform der -outform pem`)");
        }
        String text = new String(content, StandardCharsets.US_ASCII);
        String[] lines = text.split("\r?\n", -1);
        List<Block> blocks = new ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            Matcher begin = BEGIN.matcher(lines[i]);
            if (!begin.matches()) {
                continue;
            }
            String label = begin.group(1);
            int beginLine = i + 1;
            boolean encrypted = false;
            StringBuilder base64 = new StringBuilder();
            int end = -1;
            for (int j = i + 1; j < lines.length; j++) {
                Matcher endMatch = END.matcher(lines[j]);
                if (endMatch.matches()) {
                    if (!endMatch.group(1).equals(label)) {
                        throw new InvalidIdentityException(name + ": line " + (j + 1) + ": END " + endMatch.group(1)
                                + " does not close BEGIN " + label + " of line " + beginLine);
                    }
                    end = j;
                    break;
                }
                if (BEGIN.matcher(lines[j]).matches()) {
                    break;
                }
                String line = lines[j].strip();
                if (line.contains(":")) {
                    encrypted |= line.startsWith("Proc-Type:") && line.contains("ENCRYPTED");
                    continue;
                }
                base64.append(line);
            }
            if (end < 0) {
                throw new InvalidIdentityException(name + ": line " + beginLine + ": BEGIN " + label
                        + " has no END line (truncated file?)");
            }
            byte[] der;
            try {
                der = Base64.getDecoder().decode(base64.toString());
            } catch (IllegalArgumentException e) {
                throw new InvalidIdentityException(name + ": line " + beginLine + ": the " + label
                        + " block is not valid base64");
            }
            if (der.length == 0) {
                throw new InvalidIdentityException(name + ": line " + beginLine + ": the " + label
                        + " block is empty");
            }
            blocks.add(new Block(label, beginLine, encrypted, der));
            i = end;
        }
        if (blocks.isEmpty()) {
            throw new InvalidIdentityException(name + ": no PEM block (-----BEGIN ...-----) found");
        }
        return blocks;
    }

    /** Every block must be a CERTIFICATE; returns them in file order. */
    public static List<X509Certificate> certificates(String name, byte[] content) throws InvalidIdentityException {
        List<X509Certificate> certificates = new ArrayList<>();
        for (Block block : blocks(name, content)) {
            if (!block.label().equals(CERTIFICATE)) {
                throw new InvalidIdentityException(name + ": line " + block.line() + ": expected CERTIFICATE, found "
                        + block.label());
            }
            certificates.add(certificate(name, block));
        }
        return certificates;
    }

    private static X509Certificate certificate(String name, Block block) throws InvalidIdentityException {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            return (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der()));
        } catch (CertificateException | RuntimeException e) {
            throw new InvalidIdentityException(name + ": line " + block.line()
                    + ": the CERTIFICATE block is not a valid X.509 certificate");
        }
    }

    /** Exactly one unencrypted private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). */
    public static PrivateKey privateKey(String name, byte[] content) throws InvalidIdentityException {
        List<Block> blocks = blocks(name, content);
        List<Block> keys = new ArrayList<>();
        for (Block block : blocks) {
            switch (block.label()) {
                case PKCS8, PKCS1_RSA, SEC1_EC, ENCRYPTED_PKCS8 -> keys.add(block);
                case "EC PARAMETERS" -> {
                    // openssl ecparam -genkey writes the curve name before the key; the key names it again.
                }
                default -> throw new InvalidIdentityException(name + ": line " + block.line()
                        + ": expected a private key, found " + block.label());
            }
        }
        if (keys.size() != 1) {
            throw new InvalidIdentityException(name + ": holds " + keys.size() + " private keys; expected exactly one");
        }
        Block key = keys.get(0);
        if (key.encrypted() || key.label().equals(ENCRYPTED_PKCS8)) {
            throw new InvalidIdentityException(name + ": line " + key.line() + ": the private key is encrypted; "
                    + "the agent needs it unencrypted (openssl pkey -in key.pem -out key.pem)");
        }
        try {
            PrivateKeyInfo info = switch (key.label()) {
                case PKCS1_RSA -> new PrivateKeyInfo(new AlgorithmIdentifier(PKCSObjectIdentifiers.rsaEncryption,
                        org.bouncycastle.asn1.DERNull.INSTANCE), RSAPrivateKey.getInstance(key.der()));
                case SEC1_EC -> {
                    ECPrivateKey ec = ECPrivateKey.getInstance(ASN1Sequence.getInstance(key.der()));
                    if (ec.getParametersObject() == null) {
                        throw new InvalidIdentityException(name + ": line " + key.line()
                                + ": the EC private key does not name its curve");
                    }
                    yield new PrivateKeyInfo(new AlgorithmIdentifier(X9ObjectIdentifiers.id_ecPublicKey,
                            ec.getParametersObject()), ec);
                }
                default -> PrivateKeyInfo.getInstance(key.der());
            };
            return toJdkKey(info);
        } catch (InvalidIdentityException e) {
            throw e;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new InvalidIdentityException(name + ": line " + key.line() + ": the " + key.label()
                    + " block is not a valid RSA or EC private key");
        }
    }

    static PrivateKey toJdkKey(PrivateKeyInfo info) throws IOException, GeneralSecurityException {
        String algorithm = jdkAlgorithm(info.getPrivateKeyAlgorithm());
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(info.getEncoded()));
    }

    /** JDK KeyFactory name for a key algorithm identifier (SunEC has no factory under the EC OID). */
    static String jdkAlgorithm(AlgorithmIdentifier algorithm) throws GeneralSecurityException {
        if (algorithm.getAlgorithm().equals(PKCSObjectIdentifiers.rsaEncryption)) {
            return "RSA";
        }
        if (algorithm.getAlgorithm().equals(X9ObjectIdentifiers.id_ecPublicKey)) {
            return "EC";
        }
        throw new GeneralSecurityException("unsupported key algorithm " + algorithm.getAlgorithm());
    }

    /** PKCS#1 for RSA; SEC1 with the curve named inside for EC (the JDK's PKCS#8 keeps it outside). */
    private static PemObject traditional(PrivateKey key) throws IOException {
        PrivateKeyInfo info = PrivateKeyInfo.getInstance(key.getEncoded());
        if (key instanceof java.security.interfaces.ECPrivateKey ecKey) {
            ECPrivateKey inner = ECPrivateKey.getInstance(info.parsePrivateKey());
            ECPrivateKey named = new ECPrivateKey(ecKey.getParams().getOrder().bitLength(), inner.getKey(),
                    inner.getPublicKey() == null ? null : new org.bouncycastle.asn1.DERBitString(
                            inner.getPublicKey().getBytes()), info.getPrivateKeyAlgorithm().getParameters());
            return new PemObject(SEC1_EC, named.getEncoded());
        }
        return new PemObject(PKCS1_RSA, info.parsePrivateKey().toASN1Primitive().getEncoded());
    }

    /** PEM text of certificates, in order. */
    public static String encodeCertificates(List<X509Certificate> certificates) {
        StringWriter out = new StringWriter();
        try (PemWriter writer = new PemWriter(out)) {
            for (X509Certificate certificate : certificates) {
                writer.writeObject(new PemObject(CERTIFICATE, certificate.getEncoded()));
            }
        } catch (IOException | CertificateException e) {
            throw new IllegalStateException("cannot encode a certificate that was already parsed", e);
        }
        return out.toString();
    }

    /**
     * PEM of a private key: PKCS#8 ({@code BEGIN PRIVATE KEY}) when {@code pkcs8}, else the traditional form
     * (PKCS#1 for RSA, SEC1 for EC), as PKCS8_KEY selects.
     */
    public static byte[] encodePrivateKey(PrivateKey key, boolean pkcs8) {
        StringWriter out = new StringWriter();
        try (PemWriter writer = new PemWriter(out)) {
            if (pkcs8) {
                writer.writeObject(new PemObject(PKCS8, key.getEncoded()));
            } else {
                writer.writeObject(traditional(key));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode a freshly generated key", e);
        }
        return out.toString().getBytes(StandardCharsets.US_ASCII);
    }
}
