package io.istiovm.agent.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * A workload identity made the way an operator would make one by hand, with the openssl command line and none of
 * the agent's (or TestPki's) code: a self-signed root, an RSA key in PKCS#1 (as Citadel wrote {@code istio.default}
 * secrets) and a leaf for one SPIFFE id, written as {@code root-cert.pem}, {@code cert-chain.pem}, {@code key.pem}.
 */
public final class OpensslIdentity {
    private OpensslIdentity() {
    }

    /** Writes the three files for {@code spiffeId} into {@code certs}, working in {@code scratch}. */
    public static void write(Path scratch, Path certs, String spiffeId) throws IOException, InterruptedException {
        Files.createDirectories(scratch);
        Files.createDirectories(certs);
        openssl(scratch, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root-key.pem",
                "-out", "root-cert.pem", "-days", "30", "-subj", "/O=cluster.local",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        openssl(scratch, "genrsa", "-traditional", "-out", "key.pem", "2048");
        openssl(scratch, "req", "-new", "-key", "key.pem", "-subj", "/O=", "-out", "leaf.csr");
        Files.writeString(scratch.resolve("leaf.ext"), "subjectAltName=critical,URI:" + spiffeId + "\n"
                + "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
                + "basicConstraints=critical,CA:FALSE\n");
        openssl(scratch, "x509", "-req", "-in", "leaf.csr", "-CA", "root-cert.pem", "-CAkey", "root-key.pem",
                "-CAcreateserial", "-days", "7", "-extfile", "leaf.ext", "-out", "cert-chain.pem");
        Files.copy(scratch.resolve("root-cert.pem"), certs.resolve("root-cert.pem"));
        Files.copy(scratch.resolve("cert-chain.pem"), certs.resolve("cert-chain.pem"));
        Files.copy(scratch.resolve("key.pem"), certs.resolve("key.pem"));
        Files.setPosixFilePermissions(certs.resolve("key.pem"), PosixFilePermissions.fromString("rw-------"));
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (process.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
    }
}
