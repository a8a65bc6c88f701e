package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.EnvoySupervision;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.sds.SdsStreamState;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The supervisor against the Envoy stand-in: real processes running as another uid, real admin HTTP, real SDS
 * over a unix socket. Every wait is on a condition with a deadline.
 */
class EnvoySupervisionIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private EnvoyStandInFixture standIn;

    @BeforeEach
    void createStandIn() throws Exception {
        standIn = new EnvoyStandInFixture();
    }

    @AfterEach
    void removeStandIn() throws Exception {
        standIn.close();
    }

    @Test
    void startsAsEnvoysUserWithIstiosCommandLineAndIsReadyWhenLive() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("supervisor ready", WAIT, envoy::ready);
            String info = standIn.admin("/server_info").orElseThrow();
            assertThat(info).startsWith("200 ").contains("\"state\":\"LIVE\"", "\"epoch\":0",
                    "\"uid\":" + EnvoyStandInFixture.ENVOY_UID,
                    "\"service_node\":\"" + envoy.settings().nodeId() + "\"",
                    "\"service_cluster\":\"httpbin.bar\"", "\"parent_shutdown_time\":\"1s\"",
                    "\"log_level\":\"warning\"");
            assertThat(supervisor.status().epoch()).hasValue(0);
            assertThat(standIn.alivePids()).containsExactly(supervisor.status().pid().getAsLong());
        }
        assertThat(standIn.alivePids()).isEmpty();
    }

    @Test
    void fiftyKillsInARowAreSurvivedWithGrowingCappedBackoffThenEnvoyRecovers() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_RESTART_BACKOFF=2ms",
                "VM_AGENT_ENVOY_RESTART_BACKOFF_MAX=32ms", "VM_AGENT_ENVOY_STABLE_PERIOD=1h").start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("first LIVE", WAIT, envoy::ready);
            long previous = -1;
            for (int i = 1; i <= 50; i++) {
                long before = previous;
                Await.until("Envoy #" + i + " started", WAIT, () -> supervisor.status().pid().isPresent()
                        && supervisor.status().pid().getAsLong() != before);
                long pid = supervisor.status().pid().getAsLong();
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                int crashes = i;
                Await.until("crash #" + i + " noticed", WAIT,
                        () -> supervisor.status().restartDelays().size() >= crashes);
                EnvoySupervision.Status status = supervisor.status();
                // Ready never speaks for the process that died: either not ready, or a new Envoy is LIVE.
                assertThat(!status.live() || status.pid().orElse(pid) != pid).isTrue();
                previous = pid;
            }
            Await.until("recovered: LIVE after the last kill", WAIT, envoy::ready);

            EnvoySupervision.Status status = supervisor.status();
            assertThat(status.restartDelays()).hasSize(50);
            assertThat(status.restartDelays().subList(0, 7)).extracting(Duration::toMillis)
                    .containsExactly(0L, 2L, 4L, 8L, 16L, 32L, 32L);
            assertThat(status.restartDelays().subList(5, 50)).allMatch(d -> d.toMillis() == 32);
            assertThat(status.lastExit()).hasValueSatisfying(e -> assertThat(e).startsWith("killed by SIGKILL"));
            assertThat(status.starts()).isEqualTo(51);
            assertThat(standIn.alivePids()).containsExactly(status.pid().getAsLong());
        }
    }

    @Test
    void aNewIdentityReachesEnvoyOverSdsWithoutARestartWhileAConnectionStaysOpen() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("ready", WAIT, envoy::ready);
            long pid = supervisor.status().pid().getAsLong();
            ServedIdentity rotated;
            try (Socket socket = new Socket("127.0.0.1", standIn.outboundPort())) {
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                        StandardCharsets.US_ASCII));
                OutputStream out = socket.getOutputStream();
                assertThat(in.readLine()).isEqualTo("ORIGINAL_DST 127.0.0.1:" + standIn.outboundPort() + " EPOCH 0");

                rotated = envoy.rotate();
                String serial = rotated.version();
                Await.until("stand-in holds serial " + serial, WAIT,
                        () -> standIn.certChainSerials().stream().findFirst().equals(Optional.of(serial)));

                out.write("still connected\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                assertThat(in.readLine()).isEqualTo("still connected");
            }
            assertThat(supervisor.status().pid()).hasValue(pid);
            assertThat(supervisor.status().starts()).isEqualTo(1);
            String version = rotated.version();
            Await.until("both SDS streams (default, ROOTCA) ACKed the rotation", WAIT,
                    () -> envoy.sds().streams().size() == 2 && envoy.sds().streams().stream()
                            .map(SdsStreamState::ackedVersion).allMatch(v -> v.equals(Optional.of(version))));
        }
    }

    @Test
    void aChangedBootstrapHotRestartsIntoTheNextEpochNeverWithThreeAlive() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("epoch 0 ready", WAIT, envoy::ready);
            AtomicInteger mostAlive = new AtomicInteger();
            AtomicBoolean sampling = new AtomicBoolean(true);
            Thread sampler = new Thread(() -> {
                while (sampling.get()) {
                    mostAlive.accumulateAndGet(standIn.alivePids().size(), Math::max);
                    java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
                }
            }, "epoch-sampler");
            sampler.start();
            try {
                assertThat(envoy.reload()).isEqualTo(Reconciled.unchanged());
                assertThat(envoy.reload("ISTIO_META_MESH_ID=mesh-1").summary()).startsWith("hot restart to epoch 1 ");
                Await.until("epoch 1 LIVE", WAIT, () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 1
                        && standIn.admin("/server_info").orElse("").contains("\"epoch\":1"));
                assertThat(supervisor.status().starts()).as("an unchanged bootstrap restarts nothing").isEqualTo(2);

                // Two changes in a row: epoch 3 may only start once epoch 2 is LIVE.
                envoy.reload("ISTIO_META_MESH_ID=mesh-2");
                Await.until("epoch 2 started", WAIT, () -> supervisor.status().epoch().orElse(-1) == 2);
                envoy.reload("ISTIO_META_MESH_ID=mesh-3");
                Await.until("epoch 3 LIVE", WAIT, () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 3);
                Await.until("parents retired", WAIT, () -> standIn.alivePids().size() == 1);
            } finally {
                sampling.set(false);
                sampler.join();
            }
            assertThat(mostAlive.get()).isEqualTo(2);
            assertThat(supervisor.status().mostEpochsAlive()).isEqualTo(2);
            List<String> records = standIn.records();
            assertThat(records).containsSubsequence("epoch=0 HOT_RESTART handed over",
                    "epoch=1 HOT_RESTART handed over", "epoch=2 HOT_RESTART handed over");
            int epoch2Live = records.indexOf("epoch=2 HOT_RESTART handed over");
            assertThat(records.subList(0, epoch2Live)).as("epoch 3 asked only after epoch 2 answered LIVE")
                    .anyMatch(r -> r.equals("epoch=2 GET /server_info"));
            assertThat(Files.readString(standIn.dir().resolve("proxy/envoy-rev3.json"))).contains("mesh-3");
            assertThat(supervisor.status().lastExit()).isEmpty();
        }
    }

    @Test
    void stopDrainsInIstiosOrderWithReadinessOffFirstAndWaitsForOpenConnections() throws Exception {
        SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "MINIMUM_DRAIN_DURATION=200ms",
                "TERMINATION_DRAIN_DURATION=60s").start();
        EnvoySupervision supervisor = envoy.supervisor();
        Await.until("ready", WAIT, envoy::ready);
        Thread stopper = new Thread(() -> {
            try {
                envoy.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "stopper");
        try (Socket client = new Socket("127.0.0.1", standIn.inboundPort())) {
            Await.until("connection counted", WAIT, () -> standIn.admin("/stats/prometheus").orElse("")
                    .contains("envoy_server_total_connections 1"));
            stopper.start();
            Await.until("inbound listeners drained", WAIT, () -> standIn.records()
                    .contains("epoch=0 POST /drain_listeners?inboundonly&graceful"));
            assertThat(envoy.ready()).isFalse();
            assertThat(client.getInputStream().read()).as("the open connection still works").isPositive();
        }
        stopper.join(WAIT.toMillis());
        assertThat(stopper.isAlive()).isFalse();

        assertThat(standIn.records().stream().filter(r -> !r.contains(" GET ")).toList()).containsExactly(
                "epoch=0 POST /healthcheck/fail",
                "epoch=0 POST /drain_listeners?inboundonly&graceful",
                "epoch=0 CONNECTION_CLOSED " + standIn.inboundPort(),
                "epoch=0 SIGTERM");
        assertThat(standIn.alivePids()).isEmpty();
        assertThat(Files.exists(envoy.sds().socket())).as("SDS stopped after Envoy").isFalse();
    }

    @Test
    void aReplacedEnvoyBinaryIsHotRestartedInto() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("epoch 0 ready", WAIT, envoy::ready);
            String script = Files.readString(standIn.binary());
            Path upgraded = standIn.binary().resolveSibling("envoy.new");
            Files.writeString(upgraded, script + "# upgraded\n");
            Files.setPosixFilePermissions(upgraded, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.move(upgraded, standIn.binary(), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Await.until("epoch 1 LIVE on the new binary", WAIT,
                    () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 1);
            assertThat(supervisor.status().starts()).isEqualTo(2);
        }
    }

    @Test
    void anEnvoyLeftByAPreviousAgentIsStoppedAndStaleSharedMemoryRemoved() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn)) {
            Path bootstrap = standIn.dir().resolve("proxy/leftover.json");
            Files.writeString(bootstrap, EnvoyBootstrap.plan(envoy.settings()).json());
            Process leftover = new ProcessBuilder(standIn.binary().toString(), "-c", bootstrap.toString(),
                    "--restart-epoch", "0").redirectErrorStream(true)
                    .redirectOutput(standIn.dir().resolve("leftover.log").toFile()).start();
            Await.until("leftover Envoy holds the admin port", WAIT, () -> standIn.admin("/server_info").isPresent());

            envoy.start();
            assertThat(leftover.isAlive()).isFalse();
            assertThat(standIn.records()).contains("epoch=0 POST /quitquitquit", "epoch=0 QUITQUITQUIT");
            Await.until("new Envoy LIVE", WAIT, envoy::ready);
            assertThat(envoy.supervisor().status().pid()).isNotEqualTo(java.util.OptionalLong.of(leftover.pid()));
        }

        // A crashed Envoy leaves its shared memory behind; Envoy (and the stand-in) then refuse to start.
        Files.writeString(standIn.dir().resolve("shm/envoy_shared_memory_0"), "left by a crash");
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            Await.until("LIVE despite the stale shared memory", WAIT, envoy::ready);
            assertThat(envoy.supervisor().status().starts()).isEqualTo(1);
        }
    }

    @Test
    void anEnvoyThatRejectsEverySecretIsNeverReadyAndTheRejectionIsRecorded() throws Exception {
        standIn.faults("nack_all=true");
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            Await.until("SDS saw the NACKs", WAIT, () -> envoy.sds().streams().size() == 2
                    && envoy.sds().streams().stream().allMatch(s -> s.lastRejection().isPresent()));
            assertThat(envoy.sds().streams().get(0).lastRejection()).hasValueSatisfying(r ->
                    assertThat(r).startsWith("injected NACK"));
            assertThat(standIn.admin("/ready")).hasValue("503 INITIALIZING\n");
            assertThat(envoy.ready()).isFalse();
        }
    }

    @Test
    void anEnvoyThatCrashesOnItsOwnIsRestartedAndItsExitStatusKept() throws Exception {
        standIn.faults("crash_after_ms=300");
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_RESTART_BACKOFF=10ms").start()) {
            Await.until("two crashes", WAIT, () -> envoy.supervisor().status().restartDelays().size() >= 2);
            assertThat(envoy.supervisor().status().lastExit()).hasValue("killed by SIGABRT");
            standIn.faults("");
            Await.until("stable again", WAIT, envoy::ready);
        }
    }
}
