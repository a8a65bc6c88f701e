package io.istiovm.agent.certs;

import java.io.IOException;
import java.io.StringWriter;
import java.security.KeyPair;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;

/** PKCS#10 requests for a workload identity: empty subject, one critical SPIFFE URI SAN, as Istio sends them. */
public final class Csr {
    private Csr() {
    }

    /** PEM of a CSR for {@code id} signed by {@code keys}. */
    public static String build(SpiffeId id, KeyPair keys, KeySpec spec) {
        try {
            ExtensionsGenerator extensions = new ExtensionsGenerator();
            // Critical because the subject is empty (RFC 5280 4.2.1.6).
            extensions.addExtension(Extension.subjectAlternativeName, true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, id.uri())));
            PKCS10CertificationRequest request = new JcaPKCS10CertificationRequestBuilder(new X500Name(new
                    org.bouncycastle.asn1.x500.RDN[0]), keys.getPublic())
                    .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate())
                    .build(new JcaContentSignerBuilder(spec.signatureAlgorithm()).build(keys.getPrivate()));
            StringWriter out = new StringWriter();
            try (PemWriter writer = new PemWriter(out)) {
                writer.writeObject(new PemObject("CERTIFICATE REQUEST", request.getEncoded()));
            }
            return out.toString();
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot build a CSR with a freshly generated key", e);
        }
    }
}
