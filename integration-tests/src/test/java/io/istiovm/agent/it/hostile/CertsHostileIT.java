package io.istiovm.agent.it.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.VictimFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Envoy's user (uid 1337, a real process under setpriv) attacks the certificate directory of a running packaged
 * agent ({@code run}, rotating a one-minute identity against the test CA) and of the {@code certs show} command.
 * The directory is that user's, as the multi-network guide's {@code chown -R istio-proxy /etc/certs} leaves it.
 * Each test ends with the victims byte-identical with the same mode and owner, the agent alive, and a rotation
 * after the attack that reaches the disk and Envoy (over SDS).
 *
 * <p>Runs beside the other integration tests, its methods too (@Execution(CONCURRENT), this module's pom): each
 * method's agent, test CA (ephemeral loopback port), stand-in (own directories, free ports) and victims are its own,
 * under its own temporary directory; Envoy's user is shared, but it only acts on paths a method names.
 */
@Execution(ExecutionMode.CONCURRENT)
class CertsHostileIT {
    /**
     * Rotation at half-life leaves a quarter of a minute for each attack and the {@code certs show} that checks it
     * (each takes a few seconds), and keeps the class's real-time waits short.
     */
    private static final Duration LIFETIME = Duration.ofSeconds(30);
    private static final String ID = TestCa.identity("vm", "default");
    private static final IdentityExpectation EXPECT = new IdentityExpectation("cluster.local", "vm", Optional.empty());

    @TempDir
    Path tmp;
    private TestCa ca;
    private EnvoyStandInFixture standIn;
    private AgentProcess agent;
    private Path config;
    private Path certs;

    @BeforeEach
    void startCaAndAgent() throws Exception {
        // Envoy's user must reach its directory below the test's scratch tree (the victims stay root-only).
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
        ca = TestCa.start(Clock.systemUTC()).ttl(LIFETIME);
        certs = tmp.resolve("certs");
        ca.writeIdentity(certs, ID, LIFETIME);
        HostileUser.ownTree(certs);
        standIn = new EnvoyStandInFixture();
        config = Files.createDirectories(tmp.resolve("config"));
        Files.writeString(config.resolve("cluster.env"), standIn.clusterEnv("CA_ADDR=" + ca.address(),
                "OUTPUT_CERTS=" + certs, "PROV_CERT=" + certs, "ISTIO_NAMESPACE=vm", "ISTIO_META_CLUSTER_ID=vm-cluster",
                "VM_AGENT_CERTS_OWNER=" + HostileUser.UID, "VM_AGENT_CA_BACKOFF_MAX=1s", "VM_AGENT_CA_TIMEOUT=5s"));
        agent = AgentProcess.start(tmp.resolve("agent.log"), Map.of(), "run", "--config-dir", config.toString());
        awaitRotations(1);
    }

    @AfterEach
    void stop() throws Exception {
        if (agent != null) {
            agent.close();
        }
        if (standIn != null) {
            standIn.close();
        }
        if (ca != null) {
            ca.close();
        }
    }

    /**
     * Waits until the agent has written {@code count} more identities: each time the CA issued one more
     * certificate and the files hold a valid identity that differs from the one before.
     */
    private WorkloadIdentity awaitRotations(int count) throws Exception {
        Optional<WorkloadIdentity> last = onDisk();
        for (int i = 0; i < count; i++) {
            int target = ca.issued() + 1;
            java.math.BigInteger before = last.map(WorkloadIdentity::serial).orElse(null);
            Await.until("rotation " + (i + 1) + " of " + count + " reaches the disk", LIFETIME.plusSeconds(30), () -> {
                Optional<WorkloadIdentity> now = onDisk();
                return !agent.isAlive() || ca.issued() >= target && now.isPresent()
                        && !now.get().serial().equals(before);
            }, agent::logText);
            assertThat(agent.isAlive()).as(agent.logText()).isTrue();
            last = onDisk();
        }
        return last.orElseThrow();
    }

    /** After an attack: the agent is up, rotates again, and the new identity reaches the disk and Envoy. */
    private void assertRotationStillWorks() throws Exception {
        assertThat(agent.isAlive()).as(agent.logText()).isTrue();
        WorkloadIdentity rotated = awaitRotations(1);
        assertThat(rotated.spiffeId().uri()).isEqualTo(ID);
        Await.until("Envoy holds a current certificate", Duration.ofSeconds(30), () -> {
            Optional<WorkloadIdentity> current = onDisk();
            return current.isPresent() && standIn.certChainSerials().contains(current.get().serial().toString(16));
        }, () -> standIn.certChainSerials().toString());
        assertThat(agent.isAlive()).isTrue();
    }

    private Optional<WorkloadIdentity> onDisk() {
        try {
            return Optional.of(new CertsDirectory(certs).load(EXPECT, Instant.now()));
        } catch (InvalidIdentityException | IOException e) {
            return Optional.empty();
        }
    }

    private AgentProcess.Result certsShow() throws Exception {
        return AgentProcess.run(Map.of(), "certs", "show", "--config-dir", config.toString());
    }

    /** Every byte of every regular file in every ..identity-* directory of the certificate directory. */
    private String versionBytes() throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> entries = Files.list(certs)) {
            for (Path version : (Iterable<Path>) entries::iterator) {
                if (version.getFileName().toString().startsWith("..identity-")
                        && Files.isDirectory(version, LinkOption.NOFOLLOW_LINKS)) {
                    try (Stream<Path> files = Files.list(version)) {
                        for (Path file : (Iterable<Path>) files::iterator) {
                            if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                                all.append(Files.readString(file, StandardCharsets.ISO_8859_1));
                            }
                        }
                    }
                }
            }
        }
        return all.toString();
    }

    @Test
    void versionLinksToAVictimDirectoryAreNeverFollowedNorEmptied() throws Exception {
        VictimFile victim = VictimFile.directory(tmp.resolve("pam.d"));
        HostileUser.sh("cd " + certs + " && ln -s " + victim.path() + " ..identity-x && ln -s " + victim.path()
                + " ..identity-0");
        awaitRotations(1);
        victim.assertUntouched();
        assertThat(Files.isSymbolicLink(certs.resolve("..identity-x"))).isTrue();
        assertRotationStillWorks();
        victim.assertUntouched();
    }

    @Test
    void keyAndChainLinkedToARootOnlyFileAreNeverReadNorCopied() throws Exception {
        VictimFile victim = VictimFile.secretFile(tmp.resolve("shadow"));
        HostileUser.sh("cd " + certs + " && ln -sfn " + victim.path() + " key.pem && ln -sfn " + victim.path()
                + " cert-chain.pem");
        AgentProcess.Result show = certsShow();
        assertThat(show.exitCode()).as(show.toString()).isEqualTo(65);
        assertThat(show.out() + show.err()).contains(certs.resolve("key.pem") + ": is a symbolic link; refusing "
                + "to follow it").doesNotContain("victim secret");
        assertRotationStillWorks();
        assertThat(Files.readSymbolicLink(certs.resolve("key.pem"))).isEqualTo(Path.of("..data/key.pem"));
        assertThat(versionBytes()).doesNotContain("victim secret");
        assertThat(agent.logText()).doesNotContain("victim secret");
        victim.assertUntouched();
    }

    @Test
    void aFifoAndA3GbSparseKeyNeitherStallNorExhaustTheAgent() throws Exception {
        VictimFile victim = VictimFile.secretFile(tmp.resolve("shadow"));
        HostileUser.sh("cd " + certs + " && rm -f key.pem && mkfifo key.pem");
        AgentProcess.Result show = certsShow();
        assertThat(show.exitCode()).as(show.toString()).isEqualTo(65);
        assertThat(show.out() + show.err()).contains("key.pem: is not a regular file (a FIFO); refusing to read it");
        assertThat(agent.isAlive()).isTrue();

        HostileUser.sh("cd " + certs + " && rm -f key.pem && truncate -s 3G key.pem");
        show = certsShow();
        assertThat(show.exitCode()).as(show.toString()).isEqualTo(65);
        assertThat(show.out() + show.err()).contains("key.pem: is 3221225472 bytes, more than the 1048576 allowed");
        assertRotationStillWorks();
        assertThat(Files.isSymbolicLink(certs.resolve("key.pem"))).isTrue();
        victim.assertUntouched();
    }

    @Test
    void everyTemporaryNameAndFreshVersionSwappedForALinkIsRefusedNotFollowed() throws Exception {
        VictimFile victimDir = VictimFile.directory(tmp.resolve("victim-dir"));
        VictimFile victim = VictimFile.secretFile(tmp.resolve("shadow"));
        // Planted in advance: every fixed temporary name an earlier version used.
        HostileUser.sh("cd " + certs + " && for n in ..data_tmp .key.pem.link .cert-chain.pem.link .root-cert.pem.link"
                + " .key.pem.tmp; do ln -sfn " + victim.path() + " $n; done");
        // Racing: each fresh version directory is moved away and replaced by a link to the victim directory, and
        // each fresh link the agent is about to rename is re-pointed at the victim file, as fast as a shell can.
        Path stop = tmp.resolve("stop-racing");
        Path swaps = certs.resolve(".swapped");
        String racer = "cd " + certs + " && while [ ! -e " + stop + " ]; do"
                + " for d in ..identity-*; do case $d in *.stolen) ;; *) if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then"
                + " mv \"$d\" \"$d.stolen\" 2>/dev/null && ln -s " + victimDir.path() + " \"$d\" && echo \"$d\" >> "
                + swaps + "; fi;; esac; done;"
                + " for l in .*.link-*; do [ -L \"$l\" ] && ln -sfn " + victim.path() + " \"$l\" 2>/dev/null; done;"
                + " done; true";
        int issuedBefore = ca.issued();
        Thread race = new Thread(() -> {
            try {
                HostileUser.sh(racer);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "hostile-racer");
        race.start();
        try {
            Await.until("the agent tried to rotate under the race", LIFETIME.plusSeconds(30),
                    () -> ca.issued() >= issuedBefore + 2 || !agent.isAlive(), agent::logText);
        } finally {
            Files.writeString(stop, "");
            race.join();
            Files.delete(stop);
        }
        assertThat(agent.isAlive()).as(agent.logText()).isTrue();
        assertThat(Files.readAllLines(swaps)).as("version directories the racer swapped for links").isNotEmpty();
        victimDir.assertUntouched();
        victim.assertUntouched();
        // The race left the layout broken (its links stand at the agent's names): the next rotation repairs it.
        assertRotationStillWorks();
        victimDir.assertUntouched();
        victim.assertUntouched();
    }

    @Test
    void afterTheGuidesChownTheAgentTrustsNothingOfEnvoysUserAndWritesItsOwnVersions() throws Exception {
        VictimFile victim = VictimFile.directory(tmp.resolve("victim-dir"));
        assertThat(new ProcessBuilder("chown", "-R", HostileUser.UID + ":" + HostileUser.GID, certs.toString())
                .inheritIO().start().waitFor()).isZero();
        // Envoy's user now owns the versions: it fills one with a link to the victim, which root must not delete.
        Path current = certs.resolve(Files.readSymbolicLink(certs.resolve("..data")));
        HostileUser.sh("ln -s " + victim.path() + " " + current.resolve("planted"));
        assertRotationStillWorks();
        Path fresh = certs.resolve(Files.readSymbolicLink(certs.resolve("..data")));
        assertThat(Files.getAttribute(fresh, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh.resolve("key.pem"),
                LinkOption.NOFOLLOW_LINKS))).isEqualTo("rw-r-----");
        assertThat(HostileUser.run("sh", "-c", "echo x > " + fresh.resolve("key.pem")).exitCode()).isNotZero();
        assertThat(HostileUser.run("touch", fresh.resolve("extra").toString()).exitCode()).isNotZero();
        awaitRotations(1);
        assertThat(current).exists();
        assertThat(Files.isSymbolicLink(current.resolve("planted"))).isTrue();
        victim.assertUntouched();
    }
}
