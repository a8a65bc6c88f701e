package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestCa;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The packaged agent ({@code run}) keeping a 20-second identity alive against the test CA on loopback, while a
 * sampler reads the files every few milliseconds and records every instant they were not a valid, matching set.
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): everything it touches is
 * its own (a temporary directory, the test CA on an ephemeral loopback port, an {@link EnvoyStandInFixture} with
 * its own directories and free ports).
 */
@Execution(ExecutionMode.CONCURRENT)
class IdentityRotationIT {
    private static final Duration LIFETIME = Duration.ofSeconds(20);
    private static final String ID = TestCa.identity("vm", "default");
    private static final IdentityExpectation EXPECT = new IdentityExpectation("cluster.local", "vm", Optional.empty());

    @TempDir
    Path tmp;
    private TestCa ca;
    private AgentProcess agent;
    private Path certs;
    private EnvoyStandInFixture standIn;
    private IdentityOnDisk disk;
    private final List<String> gaps = new CopyOnWriteArrayList<>();
    private final AtomicReference<WorkloadIdentity> latest = new AtomicReference<>();
    private volatile boolean sampling = true;
    private Thread sampler;

    @BeforeEach
    void startCaAndAgent() throws Exception {
        ca = TestCa.start(Clock.systemUTC()).ttl(LIFETIME);
        certs = tmp.resolve("certs");
        ca.writeIdentity(certs, ID, LIFETIME);
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", certs.toString());
        settings.put("ISTIO_NAMESPACE", "vm");
        settings.put("ISTIO_META_CLUSTER_ID", "vm-cluster");
        settings.put("VM_AGENT_CERTS_OWNER", "4242");
        settings.put("VM_AGENT_CA_BACKOFF_MAX", "1s");
        settings.put("VM_AGENT_CA_TIMEOUT", "2s");
        settings.put("OUTPUT_CERTS", certs.toString());
        // `run` starts every component: Envoy is the stand-in, and the fixture keeps capture rules and the hosts
        // block off the real host.
        standIn = new EnvoyStandInFixture();
        Path config = Files.createDirectories(tmp.resolve("config"));
        Files.writeString(config.resolve("cluster.env"), standIn.clusterEnv(settings.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue()).toArray(String[]::new)));
        disk = new IdentityOnDisk(certs, EXPECT);
        sampler = new Thread(this::sample, "disk-sampler");
        sampler.start();
        agent = AgentProcess.start(tmp.resolve("agent.log"), Map.of(), "run", "--config-dir", config.toString());
    }

    private void sample() {
        while (sampling) {
            IdentityOnDisk.Result result = disk.load();
            if (result.identity().isPresent()) {
                latest.set(result.identity().get());
            } else {
                gaps.add(Instant.now() + ": " + result.problem());
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000);
        }
    }

    @AfterEach
    void stop() throws Exception {
        sampling = false;
        if (sampler != null) {
            sampler.join();
        }
        if (agent != null) {
            agent.close();
        }
        if (standIn != null) {
            standIn.close();
        }
        ca.close();
    }

    private BigInteger serial() {
        WorkloadIdentity identity = latest.get();
        return identity == null ? null : identity.serial();
    }

    private WorkloadIdentity awaitRotationAfter(BigInteger previous, Duration deadline) throws Exception {
        Await.until("a new certificate replaces serial " + previous, deadline,
                () -> serial() != null && !serial().equals(previous), agent::logText);
        return latest.get();
    }

    @Test
    void rotatesRepeatedlyAndSurvivesACaOutageLongerThanHalfALifetime() throws Exception {
        Await.until("the sampler saw the provisioned identity", Duration.ofSeconds(10), () -> serial() != null);
        List<BigInteger> serials = new ArrayList<>(List.of(serial()));
        for (int i = 0; i < 3; i++) {
            WorkloadIdentity rotated = awaitRotationAfter(serials.get(serials.size() - 1), LIFETIME);
            serials.add(rotated.serial());
            assertThat(rotated.spiffeId().uri()).isEqualTo(ID);
            assertThat(rotated.lifetime()).isEqualTo(LIFETIME);
            disk.assertOpensslVerifies();
            disk.assertOpensslMatchesKeyAndCertificate();
        }
        assertThat(ca.clusterIds()).isNotEmpty().allMatch("vm-cluster"::equals);

        // Outage right after a rotation, longer than half the lifetime: the rotation due meanwhile fails, with
        // backoff, and the current certificate keeps serving.
        WorkloadIdentity beforeOutage = awaitRotationAfter(serials.get(serials.size() - 1), LIFETIME);
        ca.stop();
        Instant down = Instant.now();
        Await.until("the CA has been down for more than half a lifetime", LIFETIME, () ->
                Duration.between(down, Instant.now()).compareTo(LIFETIME.dividedBy(2).plusSeconds(1)) > 0);
        assertThat(serial()).isEqualTo(beforeOutage.serial());
        ca.restart();

        WorkloadIdentity afterOutage = awaitRotationAfter(beforeOutage.serial(), Duration.ofSeconds(8));
        assertThat(afterOutage.spiffeId().uri()).isEqualTo(ID);
        assertThat(afterOutage.notBefore()).isBefore(beforeOutage.notAfter());
        disk.assertOpensslVerifies();
        WorkloadIdentity next = awaitRotationAfter(afterOutage.serial(), LIFETIME);
        assertThat(next.spiffeId().uri()).isEqualTo(ID);

        // Every identity also reaches Envoy (the stand-in) over SDS, from memory.
        Await.until("Envoy holds the current certificate", Duration.ofSeconds(10),
                () -> standIn.certChainSerials().contains(latest.get().serial().toString(16)),
                () -> standIn.certChainSerials() + " while the files hold " + latest.get().serial().toString(16));

        assertThat(gaps).as("instants without a valid identity on disk").isEmpty();
        assertThat(agent.isAlive()).isTrue();
        assertThat(agent.logText()).doesNotContain("PRIVATE KEY");
    }
}
