package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Torture: an agent doing back-to-back rotations ({@code certs rotate --repeat}) is SIGKILLed at a random moment
 * of a rotation, 100 times; after each kill the files must load as a matching, valid identity and openssl must
 * verify them.
 */
class IdentityKillIT {
    private static final int KILLS = 100;
    private static final String ID = TestCa.identity("vm", "default");

    @TempDir
    Path tmp;
    private TestCa ca;
    private Path certs;
    private Path config;

    @BeforeEach
    void setUp() throws Exception {
        ca = TestCa.start(Clock.systemUTC()).ttl(Duration.ofHours(1));
        certs = tmp.resolve("certs");
        ca.writeIdentity(certs, ID, Duration.ofHours(1));
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        config = tmp.resolve("config");
        TestConfigs.load(config, settings);
    }

    @AfterEach
    void tearDown() throws Exception {
        ca.close();
    }

    @Test
    void killedAtRandomMomentsTheFilesAlwaysFormAMatchingValidIdentity() throws Exception {
        // Restarting the JVM 100 times dominates the run time; a class-data-sharing archive, trained by one
        // complete rotation, halves each start.
        Path archive = tmp.resolve("agent.jsa");
        try (AgentProcess training = AgentProcess.start(java.util.List.of("-XX:ArchiveClassesAtExit=" + archive),
                tmp.resolve("training.log"), Map.of(), "certs", "rotate", "--config-dir", config.toString())) {
            assertThat(training.waitFor(Duration.ofSeconds(60))).as(training.logText()).isZero();
        }
        java.util.List<String> jvmFlags = Files.exists(archive)
                ? java.util.List.of("-XX:SharedArchiveFile=" + archive) : java.util.List.of();
        IdentityOnDisk disk = new IdentityOnDisk(certs, new IdentityExpectation("cluster.local", "vm", Optional.empty()));
        SplittableRandom random = new SplittableRandom(2026);
        int killedAfterRotating = 0;
        long startToKill = 0;
        for (int i = 0; i < KILLS; i++) {
            int issuedBefore = ca.issued();
            long started = System.nanoTime();
            int target = issuedBefore + 1 + random.nextInt(3);
            try (AgentProcess agent = AgentProcess.start(jvmFlags, tmp.resolve("agent-" + i + ".log"), Map.of(), "certs",
                    "rotate", "--config-dir", config.toString(), "--repeat", "1000000")) {
                Await.until("the agent rotates (kill " + i + ")", Duration.ofSeconds(30),
                        () -> ca.issued() >= target || !agent.isAlive());
                assertThat(agent.isAlive()).as(agent.logText()).isTrue();
                // A random point in the next rotation: the CSR round trip and the write take a few milliseconds.
                LockSupport.parkNanos(random.nextLong(15_000_000));
                agent.kill();
            }
            startToKill += System.nanoTime() - started;
            if (ca.issued() > issuedBefore) {
                killedAfterRotating++;
            }
            IdentityOnDisk.Result result = disk.load();
            assertThat(result.problem()).as("after kill " + i).isNull();
            assertThat(result.identity().orElseThrow().spiffeId().uri()).isEqualTo(ID);
            disk.assertOpensslVerifies();
        }
        assertThat(killedAfterRotating).isEqualTo(KILLS);
        System.out.printf("IdentityKillIT: %d kills, mean start-to-kill %d ms%n", KILLS, startToKill / KILLS / 1_000_000);
        disk.assertOpensslMatchesKeyAndCertificate();
        try (Stream<Path> entries = Files.list(certs)) {
            // Unfinished versions left by kills are removed by the next write: at most the current, the
            // previous and one torn one remain.
            assertThat(entries.filter(p -> p.getFileName().toString().startsWith("..identity-")).count())
                    .isLessThanOrEqualTo(3);
        }
    }
}
