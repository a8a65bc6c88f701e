package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.jna.Library;
import com.sun.jna.Native;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Torture: an agent doing back-to-back rotations ({@code certs rotate --repeat}) is SIGKILLed 100 times, every
 * other time at a random moment of a rotation and otherwise as soon as a new version directory appears (the
 * write has begun). Just before each kill the agent is frozen (SIGSTOP) and the directory read, so what the kill
 * interrupted is known: the test requires that many kills land mid-write (a version torn or written but not yet
 * current), and that after every kill the files load as a valid, matching identity which is either the old one
 * or the new one, never an older one, and openssl verifies them.
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): everything it touches is
 * its own (a temporary directory, the test CA on an ephemeral loopback port, agents it started).
 */
@Execution(ExecutionMode.CONCURRENT)
class IdentityKillIT {
    private static final int KILLS = 100;
    private static final String ID = TestCa.identity("vm", "default");
    private static final int SIGSTOP = 19;
    private static final int PRIO_PROCESS = 0;
    /**
     * The nice value of the thread that starts the agents, and so of every agent (and openssl) it starts: the 100
     * JVM starts are CPU work, and this class runs beside the sequential integration tests (the container ones
     * among them), so they take the CPU those leave idle instead of slowing them down. The test thread and its
     * agents share one nice value, so the race between the agent's write and the test's SIGSTOP is the same.
     */
    private static final int NICE = 10;

    /** kill(2), to freeze the agent without the delay of starting a process. */
    private interface Signals extends Library {
        Signals LIBC = Native.load("c", Signals.class);

        int kill(int pid, int signal);

        /** With PRIO_PROCESS and who 0, Linux sets the nice value of the calling thread only. */
        int getpriority(int which, int who);

        int setpriority(int which, int who, int prio);
    }

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

    /** The names of the version directories now. */
    private Set<String> versionNames() throws IOException {
        try (Stream<Path> entries = Files.list(certs)) {
            return entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("..identity-"))
                    .collect(Collectors.toSet());
        }
    }

    @Test
    void killedAtRandomMomentsAndMidWriteTheFilesAlwaysFormTheOldOrTheNewIdentity() throws Exception {
        // Restarting the JVM 100 times dominates the run time; a class-data-sharing archive, trained by one
        // complete rotation, halves each start.
        Path archive = tmp.resolve("agent.jsa");
        try (AgentProcess training = AgentProcess.start(List.of("-XX:ArchiveClassesAtExit=" + archive),
                tmp.resolve("training.log"), Map.of(), "certs", "rotate", "--config-dir", config.toString())) {
            assertThat(training.waitFor(Duration.ofSeconds(60))).as(training.logText()).isZero();
        }
        List<String> jvmFlags = Files.exists(archive) ? List.of("-XX:SharedArchiveFile=" + archive) : List.of();
        int niceBefore = Signals.LIBC.getpriority(PRIO_PROCESS, 0);
        assertThat(Signals.LIBC.setpriority(PRIO_PROCESS, 0, NICE)).isZero();
        try {
            killLoop(jvmFlags);
        } finally {
            // This pool thread runs other classes afterwards (root may lower the value again).
            Signals.LIBC.setpriority(PRIO_PROCESS, 0, niceBefore);
        }
    }

    private void killLoop(List<String> jvmFlags) throws Exception {
        IdentityOnDisk disk = new IdentityOnDisk(certs, new IdentityExpectation("cluster.local", "vm", Optional.empty()));
        SplittableRandom random = new SplittableRandom(2026);
        int midWrite = 0;
        int midWriteAtWrite = 0;
        int inFlight = 0;
        long startToKill = 0;
        for (int i = 0; i < KILLS; i++) {
            boolean atWrite = i % 2 == 1;
            int issuedBefore = ca.issued();
            BigInteger before = disk.load().identity().orElseThrow().serial();
            long started = System.nanoTime();
            int target = issuedBefore + 1 + random.nextInt(3);
            IdentityOnDisk.Layout atKill;
            try (AgentProcess agent = AgentProcess.start(jvmFlags, tmp.resolve("agent-" + i + ".log"), Map.of(), "certs",
                    "rotate", "--config-dir", config.toString(), "--repeat", "1000000")) {
                Await.until("the agent rotates (kill " + i + ")", Duration.ofSeconds(30),
                        () -> ca.issued() >= target || !agent.isAlive());
                assertThat(agent.isAlive()).as(agent.logText()).isTrue();
                if (atWrite) {
                    // The next version directory to appear: the write of the next identity has begun.
                    Set<String> seen = versionNames();
                    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                    while (seen.containsAll(versionNames()) && System.nanoTime() < deadline) {
                        Thread.onSpinWait();
                    }
                } else {
                    // A random point in the next rotation: the CSR round trip and the write take a few milliseconds.
                    LockSupport.parkNanos(random.nextLong(15_000_000));
                }
                assertThat(Signals.LIBC.kill((int) agent.pid(), SIGSTOP)).isZero();
                Await.until("the agent is stopped", Duration.ofSeconds(5), () -> stopped(agent.pid()));
                atKill = disk.layout();
                agent.kill();
            }
            startToKill += System.nanoTime() - started;

            // This run's certificates, in order: each was on disk before the next was asked for, so the old
            // identity is the one before the last (or the one the run started from).
            List<BigInteger> issued = ca.issuedSerials().subList(issuedBefore, ca.issued());
            BigInteger newest = issued.get(issued.size() - 1);
            BigInteger previous = issued.size() > 1 ? issued.get(issued.size() - 2) : before;
            IdentityOnDisk.Result result = disk.load();
            assertThat(result.problem()).as("after kill " + i + " (" + atKill + ")").isNull();
            WorkloadIdentity onDisk = result.identity().orElseThrow();
            assertThat(onDisk.spiffeId().uri()).isEqualTo(ID);
            assertThat(onDisk.serial()).as("after kill " + i + ": the old or the new identity (" + atKill + ")")
                    .isIn(previous, newest);
            disk.assertOpensslVerifies();
            if (atKill.midWrite(newest)) {
                midWrite++;
                midWriteAtWrite += atWrite ? 1 : 0;
            }
            if (!onDisk.serial().equals(newest)) {
                inFlight++;
            }
        }
        System.out.printf("IdentityKillIT: %d kills, %d mid-write (%d of the %d at a write), %d with the CA's last "
                + "certificate not yet current; mean start-to-kill %d ms%n", KILLS, midWrite, midWriteAtWrite,
                KILLS / 2, inFlight, startToKill / KILLS / 1_000_000);
        assertThat(midWriteAtWrite).as("kills at a write that interrupted it").isGreaterThanOrEqualTo(KILLS / 4);
        assertThat(inFlight).as("kills after the CA signed, before the switch").isPositive();
        disk.assertOpensslMatchesKeyAndCertificate();
        try (Stream<Path> entries = Files.list(certs)) {
            // Unfinished versions left by kills are removed by the next write: at most the current, the
            // previous and one torn one remain.
            assertThat(entries.filter(p -> p.getFileName().toString().startsWith("..identity-")).count())
                    .isLessThanOrEqualTo(3);
        }
    }

    /** /proc/PID/stat's state is T (stopped by a signal). */
    private static boolean stopped(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("T");
        } catch (IOException e) {
            return false;
        }
    }
}
