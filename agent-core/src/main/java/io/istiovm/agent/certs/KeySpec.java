package io.istiovm.agent.certs;

import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;

/** The kind of key each rotation generates: EC P-256, or RSA of 2048/3072/4096 bits. */
public record KeySpec(String algorithm, int rsaBits) {
    public KeySpec {
        if (!algorithm.equals("EC") && !algorithm.equals("RSA")) {
            throw new IllegalArgumentException("key algorithm must be EC or RSA");
        }
        if (algorithm.equals("RSA") && rsaBits != 2048 && rsaBits != 3072 && rsaBits != 4096) {
            throw new IllegalArgumentException("RSA keys are 2048, 3072 or 4096 bits");
        }
    }

    public static KeySpec ecP256() {
        return new KeySpec("EC", 0);
    }

    public KeyPair generate() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance(algorithm);
            if (algorithm.equals("EC")) {
                generator.initialize(new ECGenParameterSpec("secp256r1"));
            } else {
                generator.initialize(rsaBits);
            }
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK cannot generate " + this + " keys", e);
        }
    }

    public String signatureAlgorithm() {
        return algorithm.equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
    }

    @Override
    public String toString() {
        return algorithm.equals("EC") ? "EC P-256" : "RSA " + rsaBits;
    }
}
