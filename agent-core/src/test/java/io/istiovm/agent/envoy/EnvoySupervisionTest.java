package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Loops;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.MetricValues;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The supervision on stepped loops: the clock moves only when the test moves it, so every wait of the stop
 * sequence and of the restart backoff is shown to follow the injected clock, not real time. Envoy is a shell
 * script that records the signals it gets (its processes are real, as are their exits), and its admin API a
 * small HTTP server on loopback whose answers the test sets.
 */
class EnvoySupervisionTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final Duration MINIMUM_DRAIN = Duration.ofSeconds(5);
    private static final Duration TERMINATION_DRAIN = Duration.ofSeconds(30);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final SteppingClock clock = new SteppingClock(EnvoyAreas.T0);
    private final ManualLoops loops = new ManualLoops(clock);
    private final AgentState state = new AgentState(clock);
    private final FakeAdmin admin = new FakeAdmin();
    private EnvoySupervision envoy;
    /** Envoy's uid here, and the agent's as far as the supervisor can tell (see {@link #installEnvoy}). */
    private static final long ENVOY_UID = 4242;

    @BeforeEach
    void installEnvoy() throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        // Traps TERM (and records it); exits on it unless told to ignore it, as a stuck Envoy would.
        Files.writeString(bin.resolve("envoy"), """
                #!/bin/sh
                case "$1" in
                  --version) echo "envoy  version: 0000/1.29.3-dev/Clean/RELEASE/BoringSSL"; exit 0;;
                  --hot-restart-version) cat DIR/hot-restart-version 2>/dev/null || echo 11.104; exit 0;;
                esac
                if [ -e DIR/ignore-term ]; then
                  trap 'echo TERM >> DIR/signals' TERM
                else
                  trap 'echo TERM >> DIR/signals; exit 143' TERM
                fi
                echo $$ >> DIR/started
                while :; do sleep 1 & wait $!; done
                """.replace("DIR", dir.toString()));
        Files.setPosixFilePermissions(bin.resolve("envoy"), PosixFilePermissions.fromString("rwxr-xr-x"));
        // The agent's uid is read from the owner of proc/self: as Envoy's own (never root) uid, Envoy is started
        // directly, without setpriv, so the stand-in runs as this test does.
        Files.setAttribute(Files.createDirectories(dir.resolve("host/proc/self")), "unix:uid", (int) ENVOY_UID);
        Files.createDirectories(dir.resolve("host/etc"));
        // The agent's run directory must be the agent's uid's; the test's agent is "4242", so it is made so.
        for (Path own : List.of(dir.resolve("envoy-admin"), dir.resolve("envoy-admin/socket"))) {
            Files.setAttribute(Files.createDirectories(own), "unix:uid", (int) ENVOY_UID);
        }
    }

    @AfterEach
    void stopEverything() throws Exception {
        if (envoy != null) {
            CompletableFuture<Void> stopped = envoy.requestStop();
            Files.deleteIfExists(dir.resolve("ignore-term"));
            Await.until("stopped", WAIT, () -> {
                loops.advance(Duration.ofSeconds(1));
                return stopped.isDone();
            });
            envoy.stop();
        }
        for (long pid : started()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        admin.close();
    }

    @Test
    void readyExactlyWhileTheCurrentEpochIsLive() throws Exception {
        start(Map.of());
        assertThat(envoyState().phase()).isEqualTo(Phase.STARTING);
        assertThat(envoyState().reason()).startsWith("epoch 0 starting (pid ");

        loops.runDue();
        assertThat(envoyState().phase()).as("admin not LIVE yet").isEqualTo(Phase.STARTING);
        admin.liveEpoch = 0;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
        assertThat(envoyState().reason()).isEqualTo("epoch 0 LIVE (pid " + envoy.status().pid().getAsLong() + ")");
        assertThat(envoyState().facts()).containsEntry("epoch", "0")
                .containsEntry("pid", Long.toString(envoy.status().pid().getAsLong())).containsEntry("state", "LIVE")
                .containsEntry("restarts", "0");
        assertThat(envoy.status().live()).isTrue();

        // Steady and LIVE, Envoy is asked every STEADY_POLLS intervals only (its exit would wake the loop at once):
        // a hung Envoy is seen within ten seconds, and an idle agent does not probe it every second.
        admin.liveEpoch = -1;
        int asked = admin.serverInfoRequests.get();
        for (int second = 1; second < EnvoySupervision.STEADY_POLLS; second++) {
            loops.advance(Duration.ofSeconds(1));
            assertThat(envoyState().phase()).as("second %d", second).isEqualTo(Phase.READY);
        }
        assertThat(admin.serverInfoRequests.get()).isEqualTo(asked);
        loops.advance(Duration.ofSeconds(1));
        assertThat(admin.serverInfoRequests.get()).isEqualTo(asked + 1);
        assertThat(envoyState().phase()).isEqualTo(Phase.STARTING);
        // Not steady any more: asked every interval again until LIVE.
        loops.advance(Duration.ofSeconds(1));
        assertThat(admin.serverInfoRequests.get()).isEqualTo(asked + 2);
    }

    @Test
    void stopDrainsForTheMinimumThenUntilNoConnectionIsLeftThenSigterm() throws Exception {
        start(Map.of());
        live();
        admin.connections = 2;
        Instant began = clock.instant();

        CompletableFuture<Void> stopped = envoy.requestStop();
        assertThat(admin.posts).containsExactly("/healthcheck/fail", "/drain_listeners?inboundonly&graceful");
        assertThat(envoyState().phase()).isEqualTo(Phase.STOPPED);
        assertThat(envoyState().reason()).isEqualTo("stopping: draining epoch 0");

        loops.advance(MINIMUM_DRAIN.minusMillis(1));
        admin.connections = 0;
        loops.runDue();
        assertThat(envoyState().reason()).as("the minimum drain holds even without connections")
                .isEqualTo("stopping: draining epoch 0");
        admin.connections = 1;
        loops.advance(Duration.ofSeconds(10));
        assertThat(envoyState().reason()).as("a connection is still open").isEqualTo("stopping: draining epoch 0");
        assertThat(signals()).isEmpty();

        admin.connections = 0;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().reason()).isEqualTo("stopping: SIGTERM to every epoch");
        Await.until("Envoy exited on SIGTERM and the stop completed", WAIT, () -> {
            loops.runDue();
            return stopped.isDone();
        });
        assertThat(signals()).containsExactly("TERM");
        assertThat(Duration.between(began, clock.instant())).isEqualTo(MINIMUM_DRAIN.plusSeconds(11).minusMillis(1));
        assertThat(envoy.status().pid()).isEmpty();
        assertThat(started()).allSatisfy(pid -> assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive))
                .isNotEqualTo(java.util.Optional.of(true)));
    }

    @Test
    void drainEndsAtTheTerminationDrainDurationAndSigkillFollowsTheStopTimeout() throws Exception {
        Files.writeString(dir.resolve("ignore-term"), "");
        start(Map.of());
        live();
        admin.connections = 5;
        long pid = envoy.status().pid().getAsLong();

        CompletableFuture<Void> stopped = envoy.requestStop();
        loops.advance(TERMINATION_DRAIN.minusMillis(1));
        assertThat(envoyState().reason()).isEqualTo("stopping: draining epoch 0");
        loops.advance(Duration.ofMillis(1));
        assertThat(envoyState().reason()).isEqualTo("stopping: SIGTERM to every epoch");
        Await.until("SIGTERM received", WAIT, () -> signals().contains("TERM"));

        loops.advance(STOP_TIMEOUT.minusMillis(1));
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).as("ignores SIGTERM").hasValue(true);
        assertThat(stopped).isNotDone();
        loops.advance(Duration.ofMillis(1));
        Await.until("SIGKILL ended it and the stop completed", WAIT, () -> {
            loops.runDue();
            return stopped.isDone();
        });
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    }

    @Test
    void aCrashedEnvoyRestartsAtOnceThenAfterTheDoublingBackoffOfTheSteppedClock() throws Exception {
        start(Map.of("VM_AGENT_ENVOY_RESTART_BACKOFF", "2s", "VM_AGENT_ENVOY_RESTART_BACKOFF_MAX", "3s",
                "VM_AGENT_ENVOY_STABLE_PERIOD", "1h"));
        live();

        crash(1);
        assertThat(envoy.status().starts()).as("the first restart is immediate").isEqualTo(2);
        assertThat(envoyState().phase()).isEqualTo(Phase.STARTING);
        assertThat(envoyState().reason()).contains("restarted after: Envoy epoch 0 (pid ", "killed by SIGKILL",
                "(crash 1 in a row)");
        live();

        Instant crashed = crash(2);
        assertThat(envoy.status().starts()).isEqualTo(2);
        assertThat(envoyState().phase()).isEqualTo(Phase.FAILED);
        assertThat(envoyState().reason()).endsWith("(crash 2 in a row); restarting at " + crashed.plusSeconds(2));
        assertThat(envoyState().facts()).containsEntry("state", "DOWN").containsEntry("restarts", "1")
                .doesNotContainKey("pid");
        assertThat(MetricValues.of(state.metrics(), "envoy_crashes_total")).isEqualTo(2);
        assertThat(MetricValues.of(state.metrics(), "envoy_restarts_total")).isEqualTo(1);
        loops.advance(Duration.ofSeconds(2).minusMillis(1));
        assertThat(envoy.status().starts()).isEqualTo(2);
        loops.advance(Duration.ofMillis(1));
        assertThat(envoy.status().starts()).isEqualTo(3);
        live();

        crash(3);
        loops.advance(Duration.ofSeconds(3).minusMillis(1));
        assertThat(envoy.status().starts()).as("capped at 3s, not 4s").isEqualTo(3);
        loops.advance(Duration.ofMillis(1));
        assertThat(envoy.status().starts()).isEqualTo(4);
        assertThat(envoy.status().restartDelays()).containsExactly(Duration.ZERO, Duration.ofSeconds(2),
                Duration.ofSeconds(3));
        assertThat(envoy.status().lastExit()).hasValueSatisfying(e -> assertThat(e).startsWith("killed by SIGKILL"));
    }

    @Test
    void restartSpacingMeasuredOnTheSteppedClockIsImmediateThenTheDoublingCappedBackoff() throws Exception {
        start(Map.of("VM_AGENT_ENVOY_RESTART_BACKOFF", "2s", "VM_AGENT_ENVOY_RESTART_BACKOFF_MAX", "3s",
                "VM_AGENT_ENVOY_STABLE_PERIOD", "1h"));
        live();
        List<Duration> spacing = new java.util.ArrayList<>();
        for (int crashes = 1; crashes <= 4; crashes++) {
            int before = envoy.status().starts();
            Instant crashed = crash(crashes);
            // Step the clock 100 ms at a time until the next Envoy is forked; the spacing is what the clock moved.
            while (envoy.status().starts() == before) {
                assertThat(Duration.between(crashed, clock.instant())).isLessThan(Duration.ofMinutes(1));
                loops.advance(Duration.ofMillis(100));
            }
            spacing.add(Duration.between(crashed, clock.instant()));
            awaitStarted(envoy.status().starts());
            live();
        }
        assertThat(spacing).containsExactly(Duration.ZERO, Duration.ofSeconds(2), Duration.ofSeconds(3),
                Duration.ofSeconds(3));
    }

    @Test
    void aParentIsKilledOnlyOnceItsShutdownTimeAndTheStopTimeoutHavePassedSinceItsChildWasLive() throws Exception {
        start(Map.of("VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME", "60s"));
        live();
        long parent = envoy.status().pid().getAsLong();
        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1", "VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME", "60s")));
        loops.runDue();
        awaitStarted(2);
        // A child slow to initialise: its parent serves on, however long that takes.
        loops.advance(Duration.ofMinutes(10));
        assertThat(ProcessHandle.of(parent).map(ProcessHandle::isAlive)).hasValue(true);

        admin.liveEpoch = 1;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
        // The script never exits by itself, as a parent that ignores its shutdown time: 60 s + 10 s after LIVE.
        loops.advance(Duration.ofSeconds(70));
        assertThat(ProcessHandle.of(parent).map(ProcessHandle::isAlive)).as("not before").hasValue(true);
        loops.advance(Duration.ofSeconds(1));
        Await.until("the overdue parent killed", WAIT,
                () -> !ProcessHandle.of(parent).map(ProcessHandle::isAlive).orElse(false));
    }

    @Test
    void aHotRestartWhoseNewEpochDiesBeforeLiveRollsBackToTheServingParentAndIsNotRetried() throws Exception {
        start(Map.of());
        live();
        long parent = envoy.status().pid().getAsLong();
        String parentBootstrap = Files.readString(dir.resolve("proxy/envoy-rev0.json"));
        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1")));
        loops.runDue();
        assertThat(envoy.status().epoch()).hasValue(1);
        awaitStarted(2);

        // Epoch 1 dies at start (as on a bootstrap Envoy refuses); the admin API still answers for epoch 0.
        ProcessHandle.of(envoy.status().pid().getAsLong()).orElseThrow().destroyForcibly();
        Await.until("the failed hot restart noticed", WAIT, () -> {
            loops.runDue();
            return envoy.status().hotRestartFailure().isPresent();
        });
        assertThat(envoy.status().epoch()).hasValue(0);
        assertThat(envoy.status().pid()).hasValue(parent);
        assertThat(ProcessHandle.of(parent).map(ProcessHandle::isAlive)).as("the parent serves on").hasValue(true);
        assertThat(envoyState().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(envoyState().reason()).startsWith("epoch 0 LIVE (pid " + parent + ") on the previous bootstrap; "
                + "hot restart to epoch 1 failed before it was LIVE (killed by SIGKILL");
        assertThat(Files.readString(dir.resolve("proxy/envoy-rev0.json"))).isEqualTo(parentBootstrap);
        assertThat(dir.resolve("proxy/envoy-rev1.json")).doesNotExist();
        assertThat(envoy.status().restartDelays()).as("not a crash of the serving Envoy").isEmpty();

        loops.advance(Duration.ofMinutes(5));
        assertThat(envoy.status().starts()).as("the failed bootstrap is not retried").isEqualTo(2);

        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-2")));
        loops.runDue();
        assertThat(envoy.status().starts()).isEqualTo(3);
        assertThat(envoy.status().epoch()).hasValue(1);
        admin.liveEpoch = 1;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
        assertThat(envoy.status().hotRestartFailure()).isEmpty();
    }

    @Test
    void aReloadHotRestartsOnlyWhenTheBootstrapChanged() throws Exception {
        start(Map.of());
        live();

        assertThat(envoy.reload(prepare(Map.of()))).isEqualTo(Reconciled.unchanged());
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoy.status().starts()).isEqualTo(1);

        Reconciled drain = envoy.reload(prepare(Map.of("MINIMUM_DRAIN_DURATION", "1s")));
        assertThat(drain).isEqualTo(Reconciled.changed("MINIMUM_DRAIN_DURATION applied"));
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoy.status().starts()).as("a timing is no reason to restart Envoy").isEqualTo(1);

        EnvoyPlan meshed = prepare(Map.of("MINIMUM_DRAIN_DURATION", "1s", "ISTIO_META_MESH_ID", "mesh-1"));
        Reconciled hot = envoy.reload(meshed);
        assertThat(hot).isEqualTo(Reconciled.changed("hot restart to epoch 1 (bootstrap sha256 "
                + meshed.bootstrap().digest().substring(0, 12) + ")"));
        loops.runDue();
        assertThat(envoy.status().epoch()).hasValue(1);
        assertThat(envoy.status().alivePids()).hasSize(2);
        assertThat(envoyState().phase()).as("epoch 1 starts while epoch 0 serves").isEqualTo(Phase.DEGRADED);
        assertThat(Files.readString(dir.resolve("proxy/envoy-rev1.json"))).contains("mesh-1");

        admin.liveEpoch = 1;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
        assertThat(envoyState().reason()).startsWith("epoch 1 LIVE");

        Reconciled moved = envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-2",
                "VM_AGENT_ENVOY_CONFIG_DIR", dir.resolve("other").toString())));
        assertThat(moved.changed()).isFalse();
        assertThat(moved.needsRestart()).hasValueSatisfying(what -> assertThat(what)
                .startsWith("VM_AGENT_ENVOY_CONFIG_DIR changed: restart the agent"));
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoy.status().starts()).isEqualTo(2);
    }

    @Test
    void aHotRestartThatCannotStartItsEpochLeavesTheServingOneCurrentAndIsRetriedAfterADelay() throws Exception {
        start(Map.of());
        live();
        long serving = envoy.status().pid().getAsLong();
        // A directory where epoch 1's bootstrap goes: writing it fails until the directory is gone.
        Path blocker = Files.createDirectories(dir.resolve("proxy/envoy-rev1.json"));

        EnvoyPlan meshed = prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1"));
        envoy.reload(meshed);
        loops.runDue();
        assertThat(envoy.status().starts()).isEqualTo(1);
        assertThat(envoy.status().epoch()).hasValue(0);
        assertThat(envoy.status().pid()).hasValue(serving);
        assertThat(envoy.status().live()).isTrue();
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
        assertThat(envoyState().reason()).isEqualTo("epoch 0 LIVE (pid " + serving + ")");

        Files.delete(blocker);
        loops.advance(Duration.ofMillis(500));
        // A reload wakes the loop before the retry is due; it must not retry at once.
        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1", "MINIMUM_DRAIN_DURATION", "1s")));
        loops.runDue();
        assertThat(envoy.status().starts()).as("retried only after the delay").isEqualTo(1);

        loops.advance(Duration.ofMillis(500));
        assertThat(envoy.status().starts()).isEqualTo(2);
        assertThat(envoy.status().epoch()).hasValue(1);
        assertThat(envoyState().phase()).isEqualTo(Phase.DEGRADED);
        assertThat(Files.readString(dir.resolve("proxy/envoy-rev1.json"))).contains("mesh-1");
        admin.liveEpoch = 1;
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
    }

    @Test
    void aCrashWhileAHotRestartIsPendingRestartsOnThePendingBootstrapWithoutAnotherHotRestart() throws Exception {
        start(Map.of());
        live();
        // Epoch 0 is not LIVE, so the hot restart waits.
        admin.liveEpoch = -1;
        loops.advance(Duration.ofSeconds(1));
        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1")));
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoy.status().starts()).isEqualTo(1);

        crash(1);
        assertThat(envoy.status().starts()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("proxy/envoy-rev0.json"))).contains("mesh-1");
        live();
        loops.advance(Duration.ofSeconds(5));
        assertThat(envoy.status().starts()).as("no hot restart onto the bootstrap it runs").isEqualTo(2);
        assertThat(envoy.status().epoch()).hasValue(0);
    }

    @Test
    void aRetiredParentsBootstrapIsRemoved() throws Exception {
        start(Map.of());
        live();
        long parent = envoy.status().pid().getAsLong();
        envoy.reload(prepare(Map.of("ISTIO_META_MESH_ID", "mesh-1")));
        loops.runDue();
        assertThat(envoy.status().epoch()).hasValue(1);
        awaitStarted(2);

        // As Envoy's parent-shutdown time would.
        ProcessHandle.of(parent).orElseThrow().destroy();
        Await.until("epoch 0 retired", WAIT, () -> {
            loops.runDue();
            return !envoy.status().pids().contains(parent);
        });
        assertThat(dir.resolve("proxy/envoy-rev0.json")).doesNotExist();
        assertThat(dir.resolve("proxy/envoy-rev1.json")).exists();
    }

    @Test
    void anInterruptedStartKillsTheEnvoyItForkedAndClosesItsLoop() throws Exception {
        EnvoyPlan plan = prepare(Map.of());
        LateLoops late = new LateLoops(loops);
        CompletableFuture<Throwable> failure = new CompletableFuture<>();
        Thread starter = new Thread(() -> {
            try {
                plan.start(ComponentContext.of("envoy", late, state));
                failure.complete(null);
            } catch (Throwable t) {
                failure.complete(Thread.currentThread().isInterrupted() ? t : new AssertionError("not interrupted", t));
            }
        });
        starter.start();
        awaitStarted(1);
        long pid = started().get(0);

        starter.interrupt();
        assertThat(failure.get()).isInstanceOf(InterruptedException.class);
        Await.until("the forked Envoy is gone", WAIT,
                () -> !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        assertThat(loops.open()).doesNotContain("envoy");
    }

    // ---- fixture -----------------------------------------------------------------------------------------

    private Map<String, String> config(Map<String, String> extra) {
        Map<String, String> values = new LinkedHashMap<>();
        values.put("VM_AGENT_ENVOY_BINARY", dir.resolve("bin/envoy").toString());
        values.put("ENVOY_USER", Long.toString(ENVOY_UID));
        values.put("VM_AGENT_ENVOY_ADMIN_PORT", Integer.toString(admin.port()));
        // The fake admin API is the JDK's HTTP server, which serves TCP only.
        values.put("VM_AGENT_ENVOY_ADMIN_TCP", "true");
        values.put("VM_AGENT_ENVOY_CONFIG_DIR", dir.resolve("proxy").toString());
        values.put("VM_AGENT_ENVOY_SHM_DIR", dir.resolve("shm").toString());
        values.put("VM_AGENT_SDS_SOCKET", dir.resolve("sds/socket").toString());
        values.put("MINIMUM_DRAIN_DURATION", MINIMUM_DRAIN.toSeconds() + "s");
        values.put("TERMINATION_DRAIN_DURATION", TERMINATION_DRAIN.toSeconds() + "s");
        values.put("VM_AGENT_ENVOY_STOP_TIMEOUT", STOP_TIMEOUT.toSeconds() + "s");
        values.put("VM_AGENT_ENVOY_POLL_INTERVAL", "1s");
        values.putAll(extra);
        return values;
    }

    private EnvoyPlan prepare(Map<String, String> extra) throws Exception {
        HostPaths host = new HostPaths(dir.resolve("host/etc"), dir.resolve("host/proc"));
        return EnvoyAreas.area(TestConfigs.inMemory(dir.resolve("config"), config(extra)), loops, host)
                .supervisor().prepare();
    }

    private void start(Map<String, String> extra) throws Exception {
        envoy = prepare(extra).start(ComponentContext.of("envoy", loops, state));
        awaitStarted(1);
    }

    /** Waits until the script of the {@code n}th start has set its trap. */
    private void awaitStarted(int n) throws Exception {
        Await.until("Envoy #" + n + " running", WAIT, () -> started().size() >= n);
    }

    private void live() throws Exception {
        admin.liveEpoch = envoy.status().epoch().orElseThrow();
        loops.runDue();
        loops.advance(Duration.ofSeconds(1));
        assertThat(envoyState().phase()).isEqualTo(Phase.READY);
    }

    /** Kills the current Envoy and waits until the supervision saw the exit; returns the instant it did. */
    private Instant crash(int crashes) throws Exception {
        awaitStarted(envoy.status().starts());
        // Its admin API goes with it.
        admin.liveEpoch = -1;
        ProcessHandle.of(envoy.status().pid().getAsLong()).orElseThrow().destroyForcibly();
        Await.until("crash " + crashes + " noticed", WAIT, () -> {
            loops.runDue();
            return envoy.status().restartDelays().size() == crashes;
        });
        return clock.instant();
    }

    private ComponentState envoyState() {
        return state.snapshot().component("envoy").orElseThrow();
    }

    private List<Long> started() throws IOException {
        Path file = dir.resolve("started");
        return Files.exists(file) ? Files.readAllLines(file).stream().map(Long::parseLong).toList() : List.of();
    }

    private List<String> signals() throws IOException {
        Path file = dir.resolve("signals");
        return Files.exists(file) ? Files.readAllLines(file) : List.of();
    }

    /**
     * Loops whose submitted tasks run at once, as on ManualLoops, but whose futures complete only when the loop
     * closes: a start waiting on epoch 0's fork waits until it is interrupted, as it would on a slow loop thread.
     */
    private static final class LateLoops implements Loops {
        private final ManualLoops loops;

        LateLoops(ManualLoops loops) {
            this.loops = loops;
        }

        @Override
        public java.time.Clock clock() {
            return loops.clock();
        }

        @Override
        public Loop start(String name, Step step, Runnable onProgress) {
            Loop loop = loops.start(name, step, onProgress);
            List<Runnable> completions = new CopyOnWriteArrayList<>();
            return new Loop() {
                @Override
                public String name() {
                    return loop.name();
                }

                @Override
                public void wake() {
                    loop.wake();
                }

                @Override
                public <T> CompletableFuture<T> submit(java.util.concurrent.Callable<T> task) {
                    CompletableFuture<T> ran = loop.submit(task);
                    CompletableFuture<T> late = new CompletableFuture<>();
                    completions.add(() -> ran.whenComplete((v, t) -> {
                        if (t == null) {
                            late.complete(v);
                        } else {
                            late.completeExceptionally(t);
                        }
                    }));
                    return late;
                }

                @Override
                public void close() {
                    completions.forEach(Runnable::run);
                    loop.close();
                }
            };
        }
    }

    /** Envoy's admin API as the supervisor uses it; {@code liveEpoch} -1 answers "not LIVE". */
    private static final class FakeAdmin implements AutoCloseable {
        private final HttpServer server;
        final List<String> posts = new CopyOnWriteArrayList<>();
        volatile int liveEpoch = -1;
        volatile int connections;
        final java.util.concurrent.atomic.AtomicInteger serverInfoRequests = new java.util.concurrent.atomic.AtomicInteger();

        FakeAdmin() {
            try {
                server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            server.createContext("/", this::answer);
            server.start();
        }

        int port() {
            return server.getAddress().getPort();
        }

        private void answer(HttpExchange exchange) throws IOException {
            String path = exchange.getRequestURI().toString();
            String body;
            if (exchange.getRequestMethod().equals("POST")) {
                posts.add(path);
                body = "OK\n";
            } else if (path.equals("/server_info")) {
                serverInfoRequests.incrementAndGet();
                int epoch = liveEpoch;
                body = "{\"state\":\"" + (epoch < 0 ? "INITIALIZING" : "LIVE")
                        + "\",\"command_line_options\":{\"restart_epoch\":" + Math.max(epoch, 0) + "}}";
            } else if (path.equals("/stats/prometheus")) {
                body = "envoy_server_total_connections " + connections + "\n";
            } else {
                body = "";
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }
}
