package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.EnvoySupervision;
import io.istiovm.agent.lifecycle.Phase;
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
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The supervisor against the Envoy stand-in: real processes running as another uid, real admin HTTP, real SDS
 * over a unix socket. Every wait is on a condition with a deadline.
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): each method's stand-in
 * (own directories, free ports) and supervisor are its own, and every process it looks for or kills is one it
 * started (found by its fixture's marker); its two duration checks are lower bounds, which a busy machine cannot
 * break.
 */
@Execution(ExecutionMode.CONCURRENT)
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
            // Past MINIMUM_DRAIN_DURATION the supervisor counts connections (GET /stats/prometheus): three of
            // those polls with the connection open, and still no SIGTERM, show that the drain waits for it.
            Await.until("three connection counts after the drain began", WAIT, () -> {
                List<String> records = standIn.records();
                int drained = records.indexOf("epoch=0 POST /drain_listeners?inboundonly&graceful");
                return records.subList(drained, records.size()).stream()
                        .filter(r -> r.equals("epoch=0 GET /stats/prometheus")).count() >= 3;
            });
            assertThat(standIn.records()).as("no SIGTERM while a connection is open").doesNotContain("epoch=0 SIGTERM");
            BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(),
                    StandardCharsets.US_ASCII));
            assertThat(in.readLine()).startsWith("ORIGINAL_DST ");
            client.getOutputStream().write("held through the drain\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(in.readLine()).as("the open connection still works").isEqualTo("held through the drain");
            assertThat(stopper.isAlive()).isTrue();
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
            replaceBinary();
            Await.until("epoch 1 LIVE on the new binary", WAIT,
                    () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 1);
            assertThat(supervisor.status().starts()).isEqualTo(2);
        }
    }

    @Test
    void anEnvoyLeftByAPreviousAgentIsRecognisedByItsRecordedStartTimeAndExecutableNotItsCommandLine()
            throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn)) {
            Path bootstrap = standIn.dir().resolve("proxy/leftover.json");
            Files.writeString(bootstrap, EnvoyBootstrap.plan(envoy.settings()).json());
            Files.createDirectories(standIn.adminSocket().getParent());
            Process leftover = new ProcessBuilder(standIn.binary().toString(), "-c", bootstrap.toString(),
                    "--restart-epoch", "0").redirectErrorStream(true)
                    .redirectOutput(standIn.dir().resolve("leftover.log").toFile()).start();
            Await.until("leftover Envoy serves its admin socket", WAIT,
                    () -> standIn.admin("/server_info").isPresent());
            // What the previous agent recorded while it was LIVE: pid, start time, executable.
            Files.writeString(envoy.settings().runDirectory().resolve("envoy.pids"), leftover.pid() + " "
                    + startTime(leftover.pid()) + " " + Files.readSymbolicLink(Path.of("/proc/" + leftover.pid()
                    + "/exe")) + "\n");
            Files.setPosixFilePermissions(envoy.settings().runDirectory().resolve("envoy.pids"),
                    java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----"));

            envoy.start();
            assertThat(leftover.isAlive()).isFalse();
            assertThat(standIn.records()).contains("epoch=0 POST /quitquitquit", "epoch=0 QUITQUITQUIT");
            Await.until("new Envoy LIVE", WAIT, envoy::ready);
            assertThat(envoy.supervisor().status().pid()).isNotEqualTo(java.util.OptionalLong.of(leftover.pid()));
            assertThat(Files.readString(envoy.settings().runDirectory().resolve("envoy.pids")))
                    .as("the new epoch is recorded for the next agent")
                    .startsWith(envoy.supervisor().status().pid().getAsLong() + " ");
        }

        // A process whose command line says Envoy, but which the record does not name, is never signalled.
        Process impostor = new ProcessBuilder("bash", "-c", "exec -a '/usr/local/bin/envoy --restart-epoch 0' sleep 600")
                .start();
        Files.writeString(standIn.adminSocket().getParent().resolveSibling("envoy.pids"), impostor.pid()
                + " 1 /bin/sleep\n");
        // A crashed Envoy leaves its shared memory behind; only our base id's file is removed, another's is kept.
        SupervisedEnvoy probe = new SupervisedEnvoy(standIn);
        Path ours = standIn.shmDir().resolve("envoy_shared_memory_" + 10L * probe.settings().baseId());
        Path another = standIn.shmDir().resolve("envoy_shared_memory_0");
        Files.writeString(ours, "left by a crash");
        Files.setAttribute(ours, "unix:uid", EnvoyStandInFixture.ENVOY_UID);
        Files.writeString(another, "another Envoy's");
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            Await.until("LIVE despite the stale shared memory", WAIT, envoy::ready);
            assertThat(envoy.supervisor().status().starts()).isEqualTo(1);
            assertThat(impostor.isAlive()).as("not ours: its start time is not the recorded one").isTrue();
            assertThat(Files.readString(another)).isEqualTo("another Envoy's");
        } finally {
            impostor.destroyForcibly();
        }
    }

    @Test
    void anotherUsersListenerOnTheAdminPortBlocksNothingWhenAdminIsOnTheSocket() throws Exception {
        try (java.net.ServerSocket squatter = new java.net.ServerSocket(standIn.adminPort(), 1,
                java.net.InetAddress.getByName("127.0.0.1"))) {
            try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
                Await.until("LIVE with the admin API on its socket", WAIT, envoy::ready);
                assertThat(Files.getPosixFilePermissions(standIn.adminSocket())).isEqualTo(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw----"));
                assertThat(Files.getAttribute(standIn.adminSocket(), "unix:uid")).isEqualTo(
                        EnvoyStandInFixture.ENVOY_UID);
                assertThat(Files.getPosixFilePermissions(standIn.adminSocket().getParent().getParent()))
                        .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-x---"));
            }
            SupervisedEnvoy tcp = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_ADMIN_TCP=true");
            assertThatThrownBy(tcp::start).hasMessageContaining("admin port 127.0.0.1:" + standIn.adminPort()
                    + " is held by pid " + ProcessHandle.current().pid());
            tcp.close();
        }
    }

    @Test
    void whenTheNewEpochOfAHotRestartDiesAtStartTheParentKeepsServingOnTheOldBootstrap() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("epoch 0 ready", WAIT, envoy::ready);
            long parent = supervisor.status().pid().getAsLong();
            try (Socket client = new Socket("127.0.0.1", standIn.outboundPort())) {
                BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(),
                        StandardCharsets.US_ASCII));
                assertThat(in.readLine()).endsWith(" EPOCH 0");

                standIn.faults("crash_at_start=true");
                assertThat(envoy.reload("ISTIO_META_MESH_ID=mesh-1").summary()).startsWith("hot restart to epoch 1 ");
                Await.until("the failure reported", WAIT, () -> supervisor.status().hotRestartFailure().isPresent());

                assertThat(supervisor.status().epoch()).hasValue(0);
                assertThat(supervisor.status().pid()).hasValue(parent);
                assertThat(envoy.state().phase()).isEqualTo(Phase.DEGRADED);
                assertThat(envoy.state().reason()).startsWith("epoch 0 LIVE (pid " + parent + ") on the previous "
                        + "bootstrap; hot restart to epoch 1 failed before it was LIVE (killed by SIGABRT)");
                client.getOutputStream().write("survived\n".getBytes(StandardCharsets.US_ASCII));
                assertThat(in.readLine()).as("the connection through the parent survives").isEqualTo("survived");
            }
            assertThat(Files.readString(standIn.dir().resolve("proxy/envoy-rev0.json"))).doesNotContain("mesh-1");
            assertThat(standIn.dir().resolve("proxy/envoy-rev1.json")).doesNotExist();
            // No crash loop: a dozen more polls of the serving epoch, and no third start.
            int polls = countRecords("epoch=0 GET /server_info");
            Await.until("a dozen more polls", WAIT, () -> countRecords("epoch=0 GET /server_info") >= polls + 12);
            assertThat(supervisor.status().starts()).isEqualTo(2);
            try (Socket fresh = new Socket("127.0.0.1", standIn.outboundPort())) {
                assertThat(new BufferedReader(new InputStreamReader(fresh.getInputStream(), StandardCharsets.US_ASCII))
                        .readLine()).endsWith(" EPOCH 0");
            }

            standIn.faults("");
            envoy.reload("ISTIO_META_MESH_ID=mesh-2");
            Await.until("epoch 1 LIVE on the corrected bootstrap", WAIT,
                    () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 1);
            assertThat(supervisor.status().hotRestartFailure()).isEmpty();
        }
    }

    @Test
    void aBinaryOfAnotherHotRestartVersionGetsADrainedFullRestartNotAHotRestart() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("epoch 0 ready", WAIT, envoy::ready);
            assertThat(supervisor.status().build()).hasValue(EnvoyStandIn.VERSION + ", hot-restart version "
                    + EnvoyStandIn.HOT_RESTART_VERSION + ", an Istio proxy build");
            long first = supervisor.status().pid().getAsLong();
            standIn.faults("hot_restart_version=12.0");
            replaceBinary();
            Await.until("epoch 0 of the new binary LIVE", WAIT, () -> envoy.ready()
                    && supervisor.status().pid().orElse(first) != first);
            assertThat(supervisor.status().epoch()).hasValue(0);
            assertThat(supervisor.status().build()).hasValueSatisfying(b -> assertThat(b).contains("version 12.0"));
            assertThat(standIn.records()).containsSubsequence("epoch=0 POST /healthcheck/fail",
                    "epoch=0 POST /drain_listeners?inboundonly&graceful", "epoch=0 SIGTERM");
            assertThat(standIn.records()).noneMatch(r -> r.contains("HOT_RESTART"));
            assertThat(supervisor.status().lastExit()).as("a planned restart is no crash").isEmpty();
        }
    }

    @Test
    void anEnvoyThatIgnoresSigtermIsKilledOnceTheStopTimeoutHasPassed() throws Exception {
        standIn.faults("ignore_sigterm=true");
        SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_STOP_TIMEOUT=1s").start();
        Await.until("ready", WAIT, envoy::ready);
        long pid = envoy.supervisor().status().pid().getAsLong();
        long began = System.nanoTime();
        envoy.close();
        Duration took = Duration.ofNanos(System.nanoTime() - began);
        assertThat(standIn.records()).contains("epoch=0 SIGTERM ignored");
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(took).as("SIGKILL only after the stop timeout").isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void aParentThatOutlivesItsShutdownTimeIsKilledAfterItAndTheStopTimeout() throws Exception {
        // VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME=1s and VM_AGENT_ENVOY_STOP_TIMEOUT=1s: killed 2 s after it started
        // (and its child did), not before.
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_STOP_TIMEOUT=1s").start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("epoch 0 ready", WAIT, envoy::ready);
            long parent = supervisor.status().pid().getAsLong();
            standIn.faults("ignore_parent_shutdown=true");
            // The parent read its faults at its start: make it ignore the shutdown by restarting it first.
            ProcessHandle.of(parent).orElseThrow().destroyForcibly();
            Await.until("restarted epoch 0 ready", WAIT, () -> envoy.ready()
                    && supervisor.status().pid().orElse(parent) != parent);
            long stubborn = supervisor.status().pid().getAsLong();
            long childStarted = System.nanoTime();
            envoy.reload("ISTIO_META_MESH_ID=mesh-1");
            Await.until("epoch 1 LIVE", WAIT, () -> envoy.ready() && supervisor.status().epoch().orElse(-1) == 1);
            assertThat(standIn.records()).contains("epoch=0 HOT_RESTART handed over");
            Await.until("the stubborn parent killed", WAIT,
                    () -> !ProcessHandle.of(stubborn).map(ProcessHandle::isAlive).orElse(false));
            assertThat(Duration.ofNanos(System.nanoTime() - childStarted))
                    .as("not before its shutdown time and the stop timeout").isGreaterThanOrEqualTo(Duration.ofSeconds(2));
            assertThat(standIn.records()).doesNotContain("epoch=0 PARENT_SHUTDOWN");
        }
    }

    @Test
    void withTproxyEnvoyHasExactlyCapNetAdminAndOtherwiseNoCapability() throws Exception {
        for (String mode : List.of("TPROXY", "REDIRECT")) {
            try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "ISTIO_INBOUND_INTERCEPTION_MODE=" + mode)
                    .start()) {
                Await.until(mode + ": ready", WAIT, envoy::ready);
                long pid = envoy.supervisor().status().pid().getAsLong();
                String expected = mode.equals("TPROXY") ? "0000000000001000" : "0000000000000000";
                List<String> caps = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                        .filter(l -> l.startsWith("Cap")).toList();
                assertThat(caps).as(mode + ": CAP_NET_ADMIN is bit 12").containsExactly("CapInh:\t" + expected,
                        "CapPrm:\t" + expected, "CapEff:\t" + expected, "CapBnd:\t" + expected,
                        "CapAmb:\t" + expected);
            }
        }
    }

    private int countRecords(String line) throws java.io.IOException {
        return (int) standIn.records().stream().filter(line::equals).count();
    }

    private void replaceBinary() throws java.io.IOException {
        String script = Files.readString(standIn.binary());
        Path upgraded = standIn.binary().resolveSibling("envoy.new");
        Files.writeString(upgraded, script + "# upgraded\n");
        Files.setPosixFilePermissions(upgraded, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.move(upgraded, standIn.binary(), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** Field 22 of /proc/PID/stat. */
    static long startTime(long pid) throws java.io.IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 1).trim().split("\\s+")[19]);
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
