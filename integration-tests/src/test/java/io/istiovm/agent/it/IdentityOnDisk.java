package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.certs.Pem;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Reads the identity a running agent keeps in a directory, with the agent's own loader and with openssl. */
final class IdentityOnDisk {
    private final CertsDirectory dir;
    private final IdentityExpectation expectation;

    IdentityOnDisk(Path dir, IdentityExpectation expectation) {
        this.dir = new CertsDirectory(dir);
        this.expectation = expectation;
    }

    /** The identity if the files form a matching, valid set right now; the problem otherwise. */
    Result load() {
        try {
            return new Result(Optional.of(dir.load(expectation, Instant.now())), null);
        } catch (InvalidIdentityException | IOException e) {
            return new Result(Optional.empty(), e.getMessage());
        }
    }

    record Result(Optional<WorkloadIdentity> identity, String problem) {
    }

    /**
     * What the directory holds right now, read without the agent's loader: where {@code ..data} points, and each
     * {@code ..identity-*} version directory with the leaf serial of its cert-chain.pem (empty when the version is
     * torn: a file missing, empty or cut short). Read while the agent is stopped (SIGSTOP), it is the state at the
     * instant of a kill.
     */
    Layout layout() throws IOException {
        Path root = this.dir.dir();
        Path data = root.resolve("..data");
        Optional<String> current = Files.isSymbolicLink(data)
                ? Optional.of(Files.readSymbolicLink(data).toString()) : Optional.empty();
        Map<String, Optional<BigInteger>> versions = new TreeMap<>();
        List<String> others = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path entry : entries.toList()) {
                String name = entry.getFileName().toString();
                if (name.startsWith("..identity-") && Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS)) {
                    versions.put(name, completeLeafSerial(entry));
                } else if (name.startsWith(".") && !name.equals("..data")) {
                    others.add(name);
                }
            }
        }
        return new Layout(current, versions, others);
    }

    private static Optional<BigInteger> completeLeafSerial(Path version) {
        try {
            for (String name : List.of(CertsDirectory.KEY, CertsDirectory.ROOT)) {
                if (Files.size(version.resolve(name)) == 0) {
                    return Optional.empty();
                }
            }
            byte[] chain = Files.readAllBytes(version.resolve(CertsDirectory.CHAIN));
            List<X509Certificate> certificates = Pem.certificates("cert-chain.pem", chain);
            return certificates.isEmpty() ? Optional.empty() : Optional.of(certificates.get(0).getSerialNumber());
        } catch (IOException | InvalidIdentityException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * @param current  the version {@code ..data} names
     * @param versions every version directory, with its leaf serial when complete
     * @param others   other hidden entries (temporary links of a switch in progress)
     */
    record Layout(Optional<String> current, Map<String, Optional<BigInteger>> versions, List<String> others) {

        /**
         * A kill at this instant lands in the middle of writing a new identity: a version directory other than the
         * current one is torn, or holds {@code newest} (the CA's last certificate) while the current one does not,
         * or a switch is half done.
         */
        boolean midWrite(BigInteger newest) {
            Optional<BigInteger> currentSerial = current.flatMap(c -> versions.getOrDefault(c, Optional.empty()));
            boolean newestNotCurrent = !currentSerial.equals(Optional.of(newest));
            return !others.isEmpty() || versions.entrySet().stream()
                    .filter(v -> current.isEmpty() || !v.getKey().equals(current.get()))
                    .anyMatch(v -> v.getValue().isEmpty() || newestNotCurrent && v.getValue().get().equals(newest));
        }
    }

    /** `openssl verify -CAfile root-cert.pem cert-chain.pem` must print "cert-chain.pem: OK". */
    void assertOpensslVerifies() throws IOException, InterruptedException {
        Process openssl = new ProcessBuilder("openssl", "verify", "-CAfile", dir.root().toString(),
                dir.chain().toString()).redirectErrorStream(true).start();
        String output = new String(openssl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(openssl.waitFor()).as(output).isZero();
        assertThat(output.strip()).isEqualTo(dir.chain() + ": OK");
    }

    /** openssl reads key.pem too, and its public key is the certificate's. */
    void assertOpensslMatchesKeyAndCertificate() throws IOException, InterruptedException {
        String fromKey = run(List.of("openssl", "pkey", "-in", dir.key().toString(), "-pubout"));
        String fromCert = run(List.of("openssl", "x509", "-in", dir.chain().toString(), "-noout", "-pubkey"));
        assertThat(fromKey).isEqualTo(fromCert);
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor()).as(output).isZero();
        return output;
    }
}
