package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

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
