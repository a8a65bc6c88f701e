package io.istiovm.agent.certs;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The SPIFFE id read from the certificate on disk, which the workload's namespace defaults to. */
class IssuedIdentityTest {
    private static final Instant NOW = Instant.now();
    private static final TestPki PKI = TestPki.create("issued", NOW.minus(Duration.ofDays(1)),
            NOW.plus(Duration.ofDays(30)));

    @TempDir
    Path dir;

    private Path identity(String name, String spiffe) {
        Path certs = dir.resolve(name);
        PKI.writeIdentity(certs, spiffe, NOW.minus(Duration.ofHours(1)), NOW.plus(Duration.ofHours(24)),
                PKI.root());
        return certs;
    }

    @Test
    void theFirstDirectoryWithAnIdWins() {
        Path output = dir.resolve("output");
        Path provisioned = identity("provisioned", "spiffe://cluster.local/ns/vm/sa/default");
        assertThat(IssuedIdentity.find(List.of(output, provisioned)))
                .contains(new SpiffeId("cluster.local", "vm", "default"));
        Path rotated = identity("output", "spiffe://cluster.local/ns/vm/sa/reviews");
        assertThat(IssuedIdentity.find(List.of(rotated, provisioned)))
                .contains(new SpiffeId("cluster.local", "vm", "reviews"));
    }

    @Test
    void followsTheAgentsOwnLinks() throws Exception {
        Path certs = identity("certs", "spiffe://cluster.local/ns/vm/sa/default");
        Path version = Files.createDirectories(certs.resolve("..identity-1"));
        Files.move(certs.resolve("cert-chain.pem"), version.resolve("cert-chain.pem"));
        Files.createSymbolicLink(certs.resolve("..data"), Path.of("..identity-1"));
        Files.createSymbolicLink(certs.resolve("cert-chain.pem"), Path.of("..data/cert-chain.pem"));
        assertThat(IssuedIdentity.find(List.of(certs))).contains(new SpiffeId("cluster.local", "vm", "default"));
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aFifoPlantedInPlaceOfTheChainIsNoAnswerAndDoesNotBlock() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        assertThat(new ProcessBuilder("mkfifo", certs.resolve("cert-chain.pem").toString()).start().waitFor())
                .isZero();
        assertThat(Files.isRegularFile(certs.resolve("cert-chain.pem"))).isFalse();
        // A blocking open would hang here for good; the read refuses the FIFO on its non-blocking descriptor.
        assertThat(IssuedIdentity.find(List.of(certs))).isEmpty();
    }

    @Test
    void garbageOrNothingIsNoAnswer() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        assertThat(IssuedIdentity.find(List.of(certs))).isEqualTo(Optional.empty());
        Files.writeString(certs.resolve("cert-chain.pem"), "not a certificate\n");
        assertThat(IssuedIdentity.find(List.of(certs))).isEmpty();
    }
}
