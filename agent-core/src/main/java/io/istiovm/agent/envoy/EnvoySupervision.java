package io.istiovm.agent.envoy;

import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.metrics.AgentMetrics;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps Envoy running: starts epoch 0, reports READY while the current epoch is LIVE, restarts a crashed Envoy
 * with {@link RestartBackoff}, hot-restarts into a new epoch when a reload changes the bootstrap or the binary is
 * replaced (a package upgrade), and drains on stop.
 *
 * <p>Everything runs on the component's one loop: each step drains the events (an epoch exited, a reload), probes
 * the admin API and says when it wants to run next (the next poll, restart or deadline); it never sleeps, so the
 * waits of the stop sequence and the restart backoff follow the injected clock. Every fork happens on the loop's
 * thread, also the first ({@link Loop#submit}). That is a correctness matter, not style: Envoy is started with a
 * parent-death signal, which the kernel ties to the thread that forked it, and the loop's thread lives as long
 * as the supervision does.
 *
 * <p>State reported: STARTING until the current epoch is LIVE (per {@code /server_info}), READY while it is,
 * DEGRADED while a hot restart's new epoch starts and its parent still serves, FAILED while a crashed Envoy waits
 * for its restart (with the exit status and the restart time).
 */
public final class EnvoySupervision implements Running {
    /** Poll intervals between two /server_info probes of a steady, LIVE Envoy (see {@link #steady}). */
    static final int STEADY_POLLS = 10;
    /** How often a starting epoch is asked whether it is LIVE yet (at most the poll interval). */
    static final Duration START_POLL = Duration.ofMillis(100);

    private static final Logger LOG = LoggerFactory.getLogger(EnvoySupervision.class);
    private static final String SHARED_MEMORY_PREFIX = "envoy_shared_memory_";
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(1);
    /** How long {@code --version} and {@code --hot-restart-version} may take. */
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);
    private static final String RESTART_THE_AGENT = "restart the agent (systemctl restart istio-vm-agent)";

    /**
     * What the supervisor knows, as of its last step: whether the current epoch is LIVE, its epoch and pid, every
     * epoch's pid (the current one and parents still retiring), starts, the crash-restart delays so far, how the
     * last crash ended, the most epochs that were ever alive at once, why the last hot restart failed (while the
     * parent serves on), which Envoy build runs, and how many of the current epoch's output lines were cut (and the
     * longest line logged).
     */
    public record Status(boolean live, OptionalInt epoch, OptionalLong pid, List<Long> pids, int starts,
                         List<Duration> restartDelays, Optional<String> lastExit, int mostEpochsAlive,
                         Optional<String> hotRestartFailure, Optional<String> build, long outputLinesCut,
                         int longestOutputLine) {
        public Status {
            pids = List.copyOf(pids);
            restartDelays = List.copyOf(restartDelays);
        }

        /** The pids of {@link #pids()} whose process is alive now. */
        public List<Long> alivePids() {
            return pids.stream().filter(p -> ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false)).toList();
        }
    }

    private sealed interface Event {
    }

    private record Exited(EnvoyProcess process) implements Event {
    }

    private record Reload(EnvoyPlan plan) implements Event {
    }

    /** A process sent SIGTERM (or, once {@code killed}, SIGKILL) that must be gone by {@code deadline}. */
    private record Termination(Instant deadline, boolean killed) {
    }

    /** The stop's drain (or a full restart's): readiness off and listeners draining since {@code began}. */
    private record Drain(EnvoyProcess process, Instant began) {
    }

    /**
     * A hot restart in progress: the epoch it started, the parent it started from and what the parent ran, so that a
     * new epoch that dies before it is LIVE hands back to the parent (which, in Envoy, keeps serving until its
     * child has initialised and asks it to drain) instead of taking the parent down with it.
     */
    private record HotRestart(EnvoyProcess child, EnvoyProcess parent, EnvoyBootstrap parentBootstrap,
                              Optional<List<Object>> parentBinary, OptionalLong parentOomKills,
                              EnvoyBuild parentBuild, Optional<List<Object>> childBinary, String childDigest) {
    }

    /** An epoch and when it first answered LIVE: its parent's shutdown time counts from then. */
    private record LiveSince(EnvoyProcess process, Instant began) {
    }

    /** A bootstrap on a binary that a hot restart could not start: not tried again until one of them changes. */
    private record Rejected(String digest, Optional<List<Object>> binary) {
    }

    /** A setting a reload compares: its key and how to read it from a plan. */
    private record Setting(String key, Function<EnvoyPlan, Object> value) {
        boolean differs(EnvoyPlan a, EnvoyPlan b) {
            return !Objects.equals(value.apply(a), value.apply(b));
        }
    }

    /** These shape the process and its files; changing them under a running Envoy would break the hot restart. */
    private static final List<Setting> NEED_RESTART = List.of(
            new Setting("VM_AGENT_ENVOY_BINARY", EnvoyPlan::binary),
            new Setting("ENVOY_USER", EnvoyPlan::runAs),
            new Setting("VM_AGENT_ENVOY_ADMIN_PORT", p -> p.settings().adminPort()),
            new Setting("VM_AGENT_ENVOY_ADMIN_TCP", p -> p.settings().adminOnTcp()),
            new Setting("VM_AGENT_ENVOY_CONFIG_DIR", p -> p.settings().configDir()),
            new Setting("VM_AGENT_ENVOY_SHM_DIR", p -> p.settings().sharedMemoryDir()),
            // In the bootstrap too: a hot restart onto it would point Envoy at a socket nobody serves yet.
            new Setting("VM_AGENT_SDS_SOCKET", p -> p.settings().sdsSocket()));
    /** The supervisor's own timings: used from the next step on. */
    private static final List<Setting> LIVE = List.of(
            new Setting("VM_AGENT_ENVOY_RESTART_BACKOFF", p -> p.settings().restartBackoff()),
            new Setting("VM_AGENT_ENVOY_RESTART_BACKOFF_MAX", p -> p.settings().restartBackoffMax()),
            new Setting("VM_AGENT_ENVOY_STABLE_PERIOD", p -> p.settings().stablePeriod()),
            new Setting("MINIMUM_DRAIN_DURATION", p -> p.settings().minimumDrain()),
            new Setting("TERMINATION_DRAIN_DURATION", p -> p.settings().terminationDrain()),
            new Setting("VM_AGENT_ENVOY_LIVE_TIMEOUT", p -> p.settings().liveTimeout()),
            new Setting("VM_AGENT_ENVOY_STOP_TIMEOUT", p -> p.settings().stopTimeout()),
            new Setting("VM_AGENT_ENVOY_POLL_INTERVAL", p -> p.settings().pollInterval()));
    /** Command-line flags outside the bootstrap: they reach Envoy with its next epoch, never by themselves. */
    private static final List<Setting> NEXT_EPOCH = List.of(
            new Setting("VM_AGENT_ENVOY_CONCURRENCY", p -> p.settings().concurrency()),
            new Setting("VM_AGENT_ENVOY_DRAIN_TIME", p -> p.settings().drainTime()),
            new Setting("VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME", p -> p.settings().parentShutdownTime()));

    private final StatusReporter status;
    private final AgentMetrics metrics;
    private final Clock clock;
    private final HostProcesses host;
    private final EnvoyAdminClient admin;
    private final ConcurrentLinkedQueue<Event> events = new ConcurrentLinkedQueue<>();
    /** The plan of the start or the last accepted reload: what the next reload is compared with. */
    private volatile EnvoyPlan accepted;
    private volatile Status published;
    private volatile Loop loop;

    // Confined to the loop's thread.
    private EnvoyPlan plan;
    private RestartBackoff backoff;
    private EnvoyBootstrap bootstrap;
    private EnvoyBootstrap pending;
    private Instant pendingSince;
    /** After a hot restart failed to start its epoch: not retried before this. */
    private Instant hotRestartRetryAt;
    private EnvoyProcess current;
    private final List<EnvoyProcess> parents = new ArrayList<>();
    private final Map<EnvoyProcess, Termination> terminating = new LinkedHashMap<>();
    private Instant restartAt;
    /** Why the current (or awaited) epoch 0 is a restart, until it is LIVE. */
    private String crash;
    private OptionalLong oomKillsAtStart = OptionalLong.empty();
    private Optional<List<Object>> launchedBinary = Optional.empty();
    private boolean live;
    private int starts;
    /** Epoch-0 starts after the first (after a crash or for a full restart), and hot restarts begun. */
    private int restarts;
    private int hotRestarts;
    private final List<Duration> restartDelays = new ArrayList<>();
    private String lastExit;
    private int mostEpochsAlive;
    private Drain drain;
    private CompletableFuture<Void> stopDone;
    private HotRestart hotRestarting;
    private Rejected rejected;
    /** Why the last hot restart failed, reported (DEGRADED) while the parent serves on. */
    private String hotRestartFailure;
    /** The build the current epoch runs; the binary as last probed, and the binary identity it was probed for. */
    private EnvoyBuild build;
    private EnvoyBuild probed;
    private Optional<List<Object>> probedBinary = Optional.empty();
    /** A full restart onto a binary that cannot be hot-restarted into: the drain, then the process to wait for. */
    private Drain upgradeDrain;
    private EnvoyProcess upgradeExit;
    /** The kernel's identity of each epoch once it ran Envoy (at LIVE), recorded for the next agent. */
    private final Map<EnvoyProcess, ProcessIdentity> identities = new LinkedHashMap<>();
    private EnvoyRunDirectory runDirectory;
    /** When the current epoch was first LIVE. */
    private LiveSince firstLive;
    /** Set when start gave up waiting: epoch 0 must then not be forked, or be killed if it already was. */
    private volatile boolean abandoned;

    private EnvoySupervision(EnvoyPlan plan, ComponentContext context) {
        this.status = context.status();
        this.metrics = context.agent().metrics();
        this.clock = context.clock();
        this.host = plan.host();
        this.admin = new EnvoyAdminClient(plan.settings().adminAddress(), ADMIN_TIMEOUT);
        this.accepted = plan;
        this.plan = plan;
        this.bootstrap = plan.bootstrap();
        EnvoySettings s = plan.settings();
        this.backoff = new RestartBackoff(s.restartBackoff(), s.restartBackoffMax(), s.stablePeriod());
        publish();
    }

    /** Starts the loop and, on its thread, epoch 0; returns once Envoy was forked (not yet LIVE). */
    static EnvoySupervision start(EnvoyPlan plan, ComponentContext context) throws Exception {
        EnvoySupervision supervision = new EnvoySupervision(plan, context);
        supervision.loop = context.startLoop(supervision::step);
        CompletableFuture<Void> first = supervision.loop.submit(() -> {
            supervision.launchFirst();
            return null;
        });
        try {
            first.get();
        } catch (ExecutionException | InterruptedException e) {
            // The lifecycle never stops a component whose start failed, so nothing of it may outlive this: the
            // task may still fork on the loop's thread (an interrupted wait), and whatever it forked is killed
            // when it completes; closing the loop waits for that.
            supervision.abandoned = true;
            first.whenComplete((ignored, failure) -> supervision.killForked());
            supervision.loop.close();
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
                throw e;
            }
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        return supervision;
    }

    /** After an abandoned start, on the thread that completed epoch 0's launch. */
    private void killForked() {
        EnvoyProcess forked = current;
        if (forked != null && forked.alive()) {
            LOG.warn("start of Envoy was abandoned; killing epoch {} (pid {})", forked.epoch(), forked.pid());
            forked.kill();
        }
    }

    public Status status() {
        return published;
    }

    // ---- reload ------------------------------------------------------------------------------------------

    /**
     * Reconciles to {@code next}: a changed bootstrap hot-restarts into the next epoch (never an unchanged one),
     * the supervisor's timings and Envoy's log level apply at once, the other command-line flags with the next
     * epoch. A change of the binary, the user, the admin port or Envoy's directories cannot be applied to a running
     * Envoy: then nothing is applied, and the outcome says to restart the agent.
     */
    @Override
    public Reconciled reload(Prepared next) {
        if (!(next instanceof EnvoyPlan nextPlan)) {
            throw new IllegalArgumentException("not an Envoy plan: " + next);
        }
        EnvoyPlan before = accepted;
        List<String> restart = changed(NEED_RESTART, before, nextPlan);
        if (!restart.isEmpty()) {
            return Reconciled.unchanged().withRestartNeeded(String.join(", ", restart) + " changed: "
                    + RESTART_THE_AGENT + "; until then Envoy runs as it was and nothing of this reload applies");
        }
        List<String> applied = new ArrayList<>();
        if (!nextPlan.bootstrap().digest().equals(before.bootstrap().digest())) {
            String digest = "bootstrap sha256 " + nextPlan.bootstrap().digest().substring(0, 12);
            OptionalInt epoch = published.epoch();
            applied.add(epoch.isPresent() ? "hot restart to epoch " + (epoch.getAsInt() + 1) + " (" + digest + ")"
                    : digest + " used when Envoy starts again");
        }
        List<String> timings = changed(LIVE, before, nextPlan);
        if (!timings.isEmpty()) {
            applied.add(String.join(", ", timings) + " applied");
        }
        if (!nextPlan.settings().logLevel().equals(before.settings().logLevel())) {
            applied.add("log level " + nextPlan.settings().logLevel() + " set through the admin API");
        }
        List<String> flags = changed(NEXT_EPOCH, before, nextPlan);
        if (!flags.isEmpty()) {
            applied.add(String.join(", ", flags) + " used from the next epoch");
        }
        if (applied.isEmpty()) {
            return Reconciled.unchanged();
        }
        accepted = nextPlan;
        events.add(new Reload(nextPlan));
        loop.wake();
        return Reconciled.changed(String.join("; ", applied));
    }

    private static List<String> changed(List<Setting> settings, EnvoyPlan a, EnvoyPlan b) {
        return settings.stream().filter(s -> s.differs(a, b)).map(Setting::key).toList();
    }

    // ---- stop --------------------------------------------------------------------------------------------

    /** Runs the stop sequence ({@link #requestStop()}) and waits until it is done; then closes the loop. */
    @Override
    public void stop() throws Exception {
        try {
            requestStop().get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        } finally {
            loop.close();
        }
    }

    /**
     * Begins Istio's stop, in order, on the loop's thread: readiness off, Envoy fails its health checks, inbound
     * listeners drain gracefully, then (in the loop's steps) wait at least MINIMUM_DRAIN_DURATION and then until no
     * connection is left or TERMINATION_DRAIN_DURATION has passed, SIGTERM, and SIGKILL after the stop timeout.
     * The future completes when no epoch is left.
     */
    CompletableFuture<Void> requestStop() {
        return loop.submit(() -> {
            beginStop(clock.instant());
            return stopDone;
        }).thenCompose(done -> done);
    }

    private void beginStop(Instant now) {
        if (stopDone != null) {
            return;
        }
        stopDone = new CompletableFuture<>();
        restartAt = null;
        pending = null;
        hotRestartRetryAt = null;
        live = false;
        upgradeDrain = null;
        upgradeExit = null;
        EnvoyProcess serving = current;
        if (serving != null && serving.alive()) {
            status.stopped("stopping: draining epoch " + serving.epoch());
            drain = beginDrain(serving, now);
        } else {
            terminateAll(now);
        }
        publish();
        loop.wake();
    }

    private Instant stopStep(Instant now) {
        EnvoySettings s = plan.settings();
        if (drain != null) {
            Optional<Instant> draining = drainWait(drain, now);
            if (draining.isPresent()) {
                return draining.get();
            }
            drain = null;
            terminateAll(now);
        }
        Optional<Instant> deadline = progressTerminations(now);
        if (deadline.isEmpty() && !stopDone.isDone()) {
            current = null;
            parents.clear();
            identities.clear();
            recordIdentities();
            publish();
            stopDone.complete(null);
        }
        return deadline.map(d -> earliest(d, now.plus(s.pollInterval()))).orElse(now.plus(s.pollInterval()));
    }

    /** Readiness off for the mesh ({@code /healthcheck/fail}) and inbound listeners draining gracefully. */
    private Drain beginDrain(EnvoyProcess serving, Instant now) {
        LOG.info("draining Envoy epoch {}", serving.epoch());
        for (String request : List.of("/healthcheck/fail", "/drain_listeners?inboundonly&graceful")) {
            if (!admin.post(request)) {
                LOG.warn("Envoy epoch {} did not accept POST {}; draining by time alone", serving.epoch(), request);
            }
        }
        return new Drain(serving, now);
    }

    /**
     * When the drain next wants to look, or empty once it is over: at least MINIMUM_DRAIN_DURATION, then until no
     * connection is left or TERMINATION_DRAIN_DURATION has passed (or the process is gone).
     */
    private Optional<Instant> drainWait(Drain d, Instant now) {
        EnvoySettings s = plan.settings();
        Duration elapsed = Duration.between(d.began(), now);
        if (d.process().alive() && elapsed.compareTo(s.minimumDrain()) < 0) {
            return Optional.of(d.began().plus(s.minimumDrain()));
        }
        if (d.process().alive() && elapsed.compareTo(s.terminationDrain()) < 0
                && admin.totalConnections().orElse(0) > 0) {
            return Optional.of(earliest(now.plus(s.pollInterval()), d.began().plus(s.terminationDrain())));
        }
        return Optional.empty();
    }

    private void terminateAll(Instant now) {
        status.stopped("stopping: SIGTERM to every epoch");
        List<EnvoyProcess> all = new ArrayList<>(parents);
        if (current != null) {
            all.add(current);
        }
        all.forEach(process -> terminate(process, now));
    }

    // ---- the loop ----------------------------------------------------------------------------------------

    private Instant step(Instant now) {
        for (Event event = events.poll(); event != null; event = events.poll()) {
            if (event instanceof Exited e) {
                exited(e.process(), now);
            } else if (event instanceof Reload r) {
                reloaded(r.plan(), now);
            }
        }
        Instant next;
        if (stopDone != null) {
            next = stopStep(now);
        } else {
            next = supervise(now);
        }
        publish();
        return next;
    }

    private Instant supervise(Instant now) {
        EnvoySettings s = plan.settings();
        if (current == null && restartAt != null && !now.isBefore(restartAt)) {
            restartAt = null;
            try {
                launch(0, bootstrap, now);
            } catch (IOException e) {
                LOG.error("cannot start Envoy: {}", e.toString());
                crashed("Envoy could not be started: " + e.getMessage(), now, now);
            }
        }
        boolean nowLive = probe();
        if (nowLive != live) {
            LOG.info("Envoy epoch {} is {}", current == null ? "-" : current.epoch(), nowLive ? "LIVE" : "not LIVE");
            live = nowLive;
            if (live) {
                becameLive(now);
            }
        }
        if (live) {
            crash = null;
        }
        retireOverdueParents(now);
        Optional<Instant> deadline = progressTerminations(now);
        if (upgradeDrain != null) {
            Optional<Instant> draining = drainWait(upgradeDrain, now);
            if (draining.isPresent()) {
                report();
                return earliest(draining.get(), deadline.orElse(draining.get()));
            }
            LOG.info("full restart: stopping Envoy epoch {} to start the upgraded binary", upgradeDrain.process()
                    .epoch());
            upgradeExit = upgradeDrain.process();
            upgradeDrain = null;
            terminate(upgradeExit, now);
            deadline = progressTerminations(now);
        }
        Optional<List<Object>> binaryNow = binaryVersion();
        if (pending == null && upgradeExit == null && current != null && launchedBinary.isPresent()
                && binaryNow.filter(v -> !v.equals(launchedBinary.get())).isPresent()
                && !isRejected(bootstrap, binaryNow)) {
            binaryReplaced(now);
        }
        if (pending != null && isRejected(pending, binaryNow)) {
            pending = null;
            hotRestartRetryAt = null;
        }
        if (pending != null && current != null && upgradeDrain == null && upgradeExit == null) {
            if (live) {
                if ((hotRestartRetryAt == null || !now.isBefore(hotRestartRetryAt)) && olderEpochsGone(now)) {
                    hotRestart(now);
                }
            } else if (Duration.between(pendingSince, now).compareTo(s.liveTimeout()) > 0) {
                LOG.warn("hot restart waits: Envoy epoch {} has not been LIVE for {}; it will happen once it is",
                        current.epoch(), s.liveTimeout());
                pendingSince = now;
            }
        }
        report();
        Instant next = now.plus(steady() ? s.pollInterval().multipliedBy(STEADY_POLLS)
                : awaitingFirstLive() && START_POLL.compareTo(s.pollInterval()) < 0 ? START_POLL : s.pollInterval());
        if (restartAt != null) {
            next = earliest(next, restartAt);
        }
        if (pending != null && hotRestartRetryAt != null) {
            next = earliest(next, hotRestartRetryAt);
        }
        return deadline.isPresent() ? earliest(next, deadline.get()) : next;
    }

    /**
     * Nothing in progress: one LIVE epoch, no parent, hot restart, upgrade or restart pending. Its exit is seen at
     * once (the process's exit wakes the loop), so /server_info is then asked only every {@value #STEADY_POLLS} poll
     * intervals, to catch an Envoy that hangs: an idle agent, like pilot-agent, does not poll Envoy every second.
     */
    private boolean steady() {
        return live && current != null && parents.isEmpty() && pending == null && upgradeDrain == null
                && upgradeExit == null && restartAt == null && hotRestartFailure == null;
    }

    /**
     * The current epoch runs and has not been LIVE yet: its first LIVE is what READY (and a hot restart's hand-over)
     * waits for, so it is looked for every {@link #START_POLL} rather than every poll interval.
     */
    private boolean awaitingFirstLive() {
        return current != null && current.alive() && !live
                && (firstLive == null || !firstLive.process().equals(current));
    }

    /** /server_info, not /ready: while a hot restart hands over, the admin port still answers for the parent. */
    private boolean probe() {
        EnvoyProcess serving = current;
        return serving != null && serving.alive() && admin.serverInfo()
                .filter(info -> info.state().equals("LIVE") && info.epoch() == serving.epoch()).isPresent();
    }

    private void report() {
        // Facts before the phase: whoever sees the new phase (READY once LIVE) sees the facts that go with it.
        status.facts(facts());
        if (upgradeDrain != null || upgradeExit != null) {
            status.degraded("full restart onto the upgraded binary (its hot-restart version differs): "
                    + (upgradeDrain != null ? "draining epoch " + upgradeDrain.process().epoch()
                    : "waiting for epoch " + upgradeExit.epoch() + " to exit"));
        } else if (current != null && live && hotRestartFailure != null) {
            status.degraded("epoch " + current.epoch() + " LIVE (pid " + current.pid() + ") on the previous "
                    + "bootstrap; " + hotRestartFailure);
        } else if (current != null && live) {
            status.ready("epoch " + current.epoch() + " LIVE (pid " + current.pid() + ")");
        } else if (current != null && parents.stream().anyMatch(EnvoyProcess::alive)) {
            status.degraded("hot restart: epoch " + current.epoch() + " starting, epoch "
                    + parents.get(parents.size() - 1).epoch() + " still serving");
        } else if (current != null) {
            status.starting("epoch " + current.epoch() + " starting (pid " + current.pid() + ")"
                    + (crash == null ? "" : ", restarted after: " + crash));
        } else if (restartAt != null) {
            status.failed(crash + "; restarting at " + restartAt);
        }
    }

    /** What Envoy is, for STATUS=, /debug/status and the epoch metric: the current epoch, its pid and state. */
    private Map<String, String> facts() {
        Map<String, String> facts = new LinkedHashMap<>();
        if (current != null) {
            facts.put("epoch", Integer.toString(current.epoch()));
            facts.put("pid", Long.toString(current.pid()));
        }
        facts.put("state", envoyState());
        facts.put("restarts", Integer.toString(restarts));
        facts.put("hot_restarts", Integer.toString(hotRestarts));
        return facts;
    }

    /** LIVE, STARTING (the current epoch is not LIVE yet), DRAINING (a full restart) or DOWN (waiting to restart). */
    private String envoyState() {
        if (upgradeDrain != null || upgradeExit != null) {
            return "DRAINING";
        }
        if (current != null) {
            return live ? "LIVE" : "STARTING";
        }
        return "DOWN";
    }

    private void exited(EnvoyProcess process, Instant now) {
        terminating.remove(process);
        if (parents.remove(process)) {
            identities.remove(process);
            LOG.atInfo().addKeyValue("ENVOY_EPOCH", process.epoch()).addKeyValue("ENVOY_PID", process.pid())
                    .log("Envoy epoch {} (pid {}) retired (exit value {})", process.epoch(), process.pid(),
                            process.exitValue());
            deleteBootstrap(process);
            return;
        }
        if (process != current) {
            return;
        }
        ExitStatus exit = new ExitStatus(process.exitValue(), oomKillsAtStart, host.oomKills());
        if (stopDone == null && hotRestarting != null && hotRestarting.child() == process
                && hotRestarting.parent().alive()) {
            rollBack(exit, now);
            return;
        }
        current = null;
        live = false;
        identities.remove(process);
        if (stopDone != null) {
            return;
        }
        if (process == upgradeExit) {
            upgradeExit = null;
            restartAt = now;
            LOG.info("Envoy epoch {} stopped for the full restart; starting epoch 0 on the upgraded binary",
                    process.epoch());
            return;
        }
        lastExit = exit.describe();
        if (pending != null) {
            // The restart starts a fresh epoch 0: it may as well start on the bootstrap the hot restart was for.
            bootstrap = pending;
            pending = null;
            hotRestartRetryAt = null;
        }
        crashed("Envoy epoch " + process.epoch() + " (pid " + process.pid() + ") " + exit.describe(), process.started(),
                now);
        for (EnvoyProcess parent : List.copyOf(parents)) {
            // Without its child a draining parent serves nothing; the restart starts a fresh epoch 0.
            parent.kill();
        }
    }

    /**
     * The new epoch of a hot restart died before it was LIVE (a bootstrap Envoy refuses, a crashing binary, another
     * hot-restart version): its parent never drained and still serves, so it becomes the current epoch again, on
     * its own bootstrap, and the failure is reported. The bootstrap and binary that failed are not tried again
     * until a reload or another binary changes them: retrying would crash-loop while the parent serves.
     */
    private void rollBack(ExitStatus exit, Instant now) {
        HotRestart failed = hotRestarting;
        hotRestarting = null;
        EnvoyProcess child = failed.child();
        EnvoyProcess parent = failed.parent();
        parents.remove(parent);
        current = parent;
        bootstrap = failed.parentBootstrap();
        launchedBinary = failed.parentBinary();
        oomKillsAtStart = failed.parentOomKills();
        build = failed.parentBuild();
        rejected = new Rejected(failed.childDigest(), failed.childBinary());
        lastExit = exit.describe();
        live = probe();
        hotRestartFailure = "hot restart to epoch " + child.epoch() + " failed before it was LIVE ("
                + exit.describe() + "); epoch " + parent.epoch() + " keeps serving on bootstrap sha256 "
                + bootstrap.digest().substring(0, 12) + ", and the new one is not retried until it changes";
        LOG.error("{}", hotRestartFailure);
        deleteBootstrap(child);
        report();
    }

    private boolean isRejected(EnvoyBootstrap config, Optional<List<Object>> binary) {
        return rejected != null && rejected.digest().equals(config.digest()) && rejected.binary().equals(binary);
    }

    /**
     * A package upgrade replaced the binary: a hot restart onto it when its hot-restart version is the running
     * one's (or either is unknown), else a drained full restart, since two epochs of different hot-restart versions
     * cannot hand over (the new one fails to attach to the shared memory).
     */
    private void binaryReplaced(Instant now) {
        EnvoyBuild running = build;
        EnvoyBuild next = probeBuild();
        if (running != null && running.hotRestartVersion().isPresent() && next.hotRestartVersion().isPresent()
                && !running.hotRestartVersion().equals(next.hotRestartVersion())) {
            if (!olderEpochsGone(now)) {
                // A parent still draining would keep the shared memory epoch 0 needs; retired first.
                return;
            }
            LOG.warn("Envoy binary {} was replaced by one of hot-restart version {} (running: {}); a hot restart "
                    + "cannot hand over between them: draining epoch {} for a full restart", plan.binary(),
                    next.hotRestartVersion().get(), running.hotRestartVersion().get(), current.epoch());
            upgradeDrain = beginDrain(current, now);
            return;
        }
        LOG.info("Envoy binary {} was replaced; hot restart onto the new one", plan.binary());
        pending = bootstrap;
        pendingSince = now;
    }

    /** Probes the binary when it is not the one last probed; logs which build it is, and warns on a non-Istio one. */
    private EnvoyBuild probeBuild() {
        Optional<List<Object>> binary = binaryVersion();
        if (probed != null && binary.isPresent() && binary.equals(probedBinary)) {
            return probed;
        }
        EnvoyBuild build = EnvoyBuild.probe(plan.binary(), command -> plan.runAs()
                .map(u -> EnvoyCommandLine.asUser(u, false, command)).orElse(command), PROBE_TIMEOUT);
        probedBinary = binary;
        if (build.istio()) {
            LOG.info("Envoy {}: {}", plan.binary(), build.describe());
        } else {
            LOG.warn("Envoy {}: {}. istiod sends Istio's own filters ({}); an upstream Envoy build rejects every "
                    + "listener that uses them. Install Istio's proxy (the istio-sidecar package's envoy).",
                    plan.binary(), build.describe(), String.join(", ", EnvoyBuild.ISTIO_EXTENSIONS));
        }
        probed = build;
        return build;
    }

    /**
     * The current epoch answered LIVE: a hot restart's child made it (its parent drains now), and the kernel's
     * identity of every epoch is recorded for the next agent.
     */
    private void becameLive(Instant now) {
        if (hotRestarting != null && hotRestarting.child() == current) {
            hotRestarting = null;
            hotRestartFailure = null;
            rejected = null;
        }
        if (firstLive == null || !firstLive.process().equals(current)) {
            firstLive = new LiveSince(current, now);
        }
        host.identity(current.pid()).ifPresent(id -> identities.put(current, id));
        recordIdentities();
    }

    private void recordIdentities() {
        if (runDirectory == null) {
            return;
        }
        identities.keySet().removeIf(p -> !p.alive());
        try {
            runDirectory.record(List.copyOf(identities.values()));
        } catch (IOException e) {
            LOG.warn("cannot record Envoy's processes in {}: {}", plan.settings().runDirectory(), e.toString());
        }
    }

    /** Records a crash of a process that ran from {@code started} until {@code now} and schedules the restart. */
    private void crashed(String what, Instant started, Instant now) {
        Duration delay = backoff.afterCrash(started, now);
        metrics.envoyCrashed();
        restartDelays.add(delay);
        restartAt = now.plus(delay);
        crash = what + " (crash " + backoff.consecutiveCrashes() + " in a row)";
        LOG.error("{} after {} ms; restarting in {} ms", crash, Duration.between(started, now).toMillis(),
                delay.toMillis());
        report();
    }

    private void reloaded(EnvoyPlan next, Instant now) {
        EnvoyPlan before = plan;
        plan = next;
        EnvoySettings s = next.settings();
        backoff = backoff.retimed(s.restartBackoff(), s.restartBackoffMax(), s.stablePeriod());
        if (!s.logLevel().equals(before.settings().logLevel()) && current != null
                && !admin.post("/logging?level=" + s.logLevel())) {
            LOG.warn("Envoy did not accept log level {}; it applies from the next epoch", s.logLevel());
        }
        EnvoyBootstrap wanted = next.bootstrap();
        if (wanted.digest().equals(bootstrap.digest())) {
            if (pending != null && !pending.digest().equals(bootstrap.digest())) {
                LOG.info("bootstrap changed back to the running one (sha256 {}); no hot restart", wanted.digest());
                pending = null;
                hotRestartRetryAt = null;
            }
            return;
        }
        if (current == null) {
            bootstrap = wanted;
            LOG.info("bootstrap changed while Envoy is down; the next start uses it");
            return;
        }
        pending = wanted;
        pendingSince = now;
    }

    /**
     * At most two epochs: the one serving and the one starting. An older parent still draining is asked to go
     * first; true once none is alive.
     */
    private boolean olderEpochsGone(Instant now) {
        boolean gone = true;
        for (EnvoyProcess parent : parents) {
            if (parent.alive()) {
                gone = false;
                if (!terminating.containsKey(parent)) {
                    LOG.info("retiring Envoy epoch {} (pid {}) early to keep at most two epochs", parent.epoch(),
                            parent.pid());
                    terminate(parent, now);
                }
            }
        }
        return gone;
    }

    /**
     * Starts the next epoch on the pending bootstrap. Only a started epoch changes what the supervisor believes
     * runs: when it cannot be started, the serving epoch stays current and the bootstrap stays pending, retried
     * after the restart backoff (at least a poll interval) rather than on every step.
     */
    private void hotRestart(Instant now) {
        EnvoyBootstrap next = pending;
        EnvoyProcess previous = current;
        EnvoyBootstrap previousBootstrap = bootstrap;
        Optional<List<Object>> previousBinary = launchedBinary;
        OptionalLong previousOomKills = oomKillsAtStart;
        EnvoyBuild previousBuild = build;
        // Parents that are gone stay listed until their exit is handled, which deletes their bootstrap file.
        parents.add(previous);
        try {
            launch(previous.epoch() + 1, next, now);
            hotRestarting = new HotRestart(current, previous, previousBootstrap, previousBinary, previousOomKills,
                    previousBuild, launchedBinary, next.digest());
        } catch (IOException e) {
            parents.remove(previous);
            EnvoySettings s = plan.settings();
            Duration delay = s.restartBackoff().compareTo(s.pollInterval()) > 0 ? s.restartBackoff()
                    : s.pollInterval();
            pendingSince = now;
            hotRestartRetryAt = now.plus(delay);
            LOG.error("hot restart failed to start epoch {}: {}; epoch {} keeps serving, retrying in {} ms",
                    previous.epoch() + 1, e.toString(), previous.epoch(), delay.toMillis());
            return;
        }
        pending = null;
        hotRestartRetryAt = null;
        live = false;
        hotRestarts++;
        metrics.envoyHotRestarted();
        LOG.info("hot restart: epoch {} -> {} (bootstrap sha256 {})", previous.epoch(), previous.epoch() + 1,
                next.digest());
    }

    /**
     * A parent still alive its parent-shutdown time plus the stop timeout after its child was first LIVE is killed.
     * Counted from the child's first LIVE, not its start: Envoy's child starts the parent's shutdown timer once it
     * has initialised, and a child slow to start (a loaded host) must not cost the parent that still serves.
     */
    private void retireOverdueParents(Instant now) {
        Duration grace = plan.settings().parentShutdownTime().plus(plan.settings().stopTimeout());
        if (current == null || firstLive == null || !firstLive.process().equals(current)
                || Duration.between(firstLive.began(), now).compareTo(grace) <= 0) {
            return;
        }
        for (EnvoyProcess parent : parents) {
            if (parent.alive() && !terminating.containsKey(parent)) {
                LOG.warn("Envoy epoch {} (pid {}) outlived its parent shutdown time; killing it", parent.epoch(),
                        parent.pid());
                parent.kill();
                terminating.put(parent, new Termination(now.plus(plan.settings().stopTimeout()), true));
            }
        }
    }

    /** SIGTERM now; {@link #progressTerminations} sends SIGKILL when the stop timeout has passed. */
    private void terminate(EnvoyProcess process, Instant now) {
        if (process.alive() && !terminating.containsKey(process)) {
            process.terminate();
            terminating.put(process, new Termination(now.plus(plan.settings().stopTimeout()), false));
        }
    }

    /** Forgets the terminated processes that exited, kills the overdue; returns the next deadline, if any. */
    private Optional<Instant> progressTerminations(Instant now) {
        Optional<Instant> next = Optional.empty();
        for (Map.Entry<EnvoyProcess, Termination> entry : List.copyOf(terminating.entrySet())) {
            EnvoyProcess process = entry.getKey();
            Termination termination = entry.getValue();
            if (!process.alive()) {
                terminating.remove(process);
                LOG.atInfo().addKeyValue("ENVOY_EPOCH", process.epoch()).addKeyValue("ENVOY_PID", process.pid())
                        .log("Envoy epoch {} (pid {}) stopped", process.epoch(), process.pid());
                continue;
            }
            if (now.isBefore(termination.deadline())) {
                next = Optional.of(next.map(n -> earliest(n, termination.deadline())).orElse(termination.deadline()));
            } else if (!termination.killed()) {
                LOG.warn("Envoy epoch {} (pid {}) did not exit {} after SIGTERM; SIGKILL", process.epoch(),
                        process.pid(), plan.settings().stopTimeout());
                process.kill();
                Instant deadline = now.plus(plan.settings().stopTimeout());
                terminating.put(process, new Termination(deadline, true));
                next = Optional.of(next.map(n -> earliest(n, deadline)).orElse(deadline));
            } else {
                LOG.error("Envoy epoch {} (pid {}) did not exit after SIGKILL; giving up on it", process.epoch(),
                        process.pid());
                terminating.remove(process);
            }
        }
        return next;
    }

    private void launchFirst() throws IOException, InterruptedException {
        runDirectory = new EnvoyRunDirectory(plan.settings().runDirectory(), host.currentUid(),
                plan.runAs().map(u -> OptionalInt.of(Math.toIntExact(u.gid()))).orElse(OptionalInt.empty()));
        runDirectory.prepare();
        stopLeftoverEnvoy();
        if (abandoned) {
            throw new IllegalStateException("start of Envoy was abandoned");
        }
        launch(0, bootstrap, clock.instant());
        report();
        publish();
    }

    /**
     * Forks {@code epoch} on {@code config}; only once it was forked does it become the current epoch, its
     * bootstrap the running one and its binary and OOM count the ones the next checks compare with.
     */
    private void launch(int epoch, EnvoyBootstrap config, Instant now) throws IOException {
        if (epoch == 0) {
            removeStaleSharedMemory();
        }
        EnvoyBuild running = probeBuild();
        Path file = writeBootstrap(epoch, config);
        List<String> command = plan.command(file, epoch);
        OptionalLong oomKills = host.oomKills();
        Optional<List<Object>> binary = binaryVersion();
        EnvoyProcess process = EnvoyProcess.start(epoch, command, now);
        current = process;
        bootstrap = config;
        oomKillsAtStart = oomKills;
        launchedBinary = binary;
        build = running;
        if (epoch == 0 && starts > 0) {
            restarts++;
            metrics.envoyRestarted();
        }
        starts++;
        int alive = 1 + (int) parents.stream().filter(EnvoyProcess::alive).count();
        mostEpochsAlive = Math.max(mostEpochsAlive, alive);
        process.onExit().thenRun(() -> {
            events.add(new Exited(process));
            loop.wake();
        });
        LOG.atInfo().addKeyValue("ENVOY_EPOCH", epoch).addKeyValue("ENVOY_PID", process.pid())
                .log("started Envoy epoch {} pid {}{}", epoch, process.pid(),
                        plan.runAs().map(u -> " as uid " + u.uid() + " gid " + u.gid()).orElse(""));
    }

    private void publish() {
        List<Long> pids = new ArrayList<>();
        parents.forEach(p -> pids.add(p.pid()));
        if (current != null) {
            pids.add(current.pid());
        }
        published = new Status(live && current != null,
                current == null ? OptionalInt.empty() : OptionalInt.of(current.epoch()),
                current == null ? OptionalLong.empty() : OptionalLong.of(current.pid()),
                pids, starts, restartDelays, Optional.ofNullable(lastExit), mostEpochsAlive,
                Optional.ofNullable(hotRestartFailure), Optional.ofNullable(build).map(EnvoyBuild::describe),
                current == null ? 0 : current.outputLinesCut(), current == null ? 0 : current.longestOutputLine());
    }

    private static Instant earliest(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    /** Identity of the binary file: a package upgrade replaces it (new inode) or rewrites it (new mtime/size). */
    private Optional<List<Object>> binaryVersion() {
        try {
            BasicFileAttributes attributes = Files.readAttributes(plan.binary(), BasicFileAttributes.class);
            return Optional.of(List.of(String.valueOf(attributes.fileKey()), attributes.lastModifiedTime(),
                    attributes.size()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Writes the bootstrap as {@code envoy-rev<epoch>.json}, 0644 (no secrets in it, they come over SDS, and Envoy's
     * user must read it), through a held directory: the directory may be Envoy's user's (Istio hands
     * /etc/istio/proxy to istio-proxy), who could otherwise point the file's names at any file root can write.
     */
    private Path writeBootstrap(int epoch, EnvoyBootstrap config) throws IOException {
        String name = bootstrapName(epoch);
        try (HeldDirectory dir = HeldDirectory.openOrCreate(plan.settings().configDir(), 0755, OptionalInt.empty())
                .directory()) {
            dir.writeAtomically(name, config.json().getBytes(StandardCharsets.UTF_8), 0644);
        }
        return plan.settings().configDir().resolve(name);
    }

    private static String bootstrapName(int epoch) {
        return "envoy-rev" + epoch + ".json";
    }

    /**
     * Removes the bootstrap file of a retired epoch, unless an epoch we still run has its number (a crash restart
     * begins again at epoch 0, so a retiring parent may share it with the current epoch). Held as when it was
     * written; a failure costs a stale file, never the step.
     */
    private void deleteBootstrap(EnvoyProcess retired) {
        int epoch = retired.epoch();
        if ((current != null && current.epoch() == epoch) || parents.stream().anyMatch(p -> p.epoch() == epoch)) {
            return;
        }
        String name = bootstrapName(epoch);
        try (HeldDirectory dir = HeldDirectory.open(plan.settings().configDir())) {
            dir.delete(name);
        } catch (IOException e) {
            LOG.warn("cannot remove the bootstrap {} of retired Envoy epoch {}: {}",
                    plan.settings().configDir().resolve(name), epoch, e.toString());
        }
    }

    /**
     * Envoy's hot-restart shared memory outlives a crashed Envoy and makes the next epoch 0 fail to start (the
     * Istio VM crash loop, istio/istio#21460). Called only when no Envoy of ours runs. Only our base id's file
     * ({@code envoy_shared_memory_<10 * base id>}: Envoy scales the id by 10), and only when it is a regular file
     * of Envoy's user or the agent's: another Envoy's shared memory, or anyone else's file, is left alone.
     */
    private void removeStaleSharedMemory() throws IOException {
        Path dir = plan.settings().sharedMemoryDir();
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        String name = sharedMemoryName(plan.settings());
        // Held, and the entry removed by name: the directory is writable by Envoy's user (and /dev/shm by all).
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            Map<String, Object> attributes;
            try {
                attributes = Files.readAttributes(held.entry(name), "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
            } catch (java.nio.file.NoSuchFileException e) {
                return;
            }
            long owner = ((Number) attributes.get("uid")).longValue();
            int mode = (Integer) attributes.get("mode");
            long envoyUid = plan.runAs().map(ProcessUser::uid).orElse(host.currentUid());
            if ((mode & 0170000) != 0100000 || (owner != envoyUid && owner != host.currentUid())) {
                LOG.warn("{} is not Envoy's shared memory (uid {}, mode {}); leaving it, Envoy may refuse to start",
                        dir.resolve(name), owner, Integer.toOctalString(mode));
                return;
            }
            if (held.delete(name)) {
                LOG.info("removed stale Envoy shared memory {}", dir.resolve(name));
            }
        }
    }

    /** The shared-memory file of our base id, as Envoy names it (hot_restart_impl.cc, Envoy 1.12 to 1.34). */
    static String sharedMemoryName(EnvoySettings s) {
        return SHARED_MEMORY_PREFIX + (10L * s.baseId());
    }

    /**
     * An Envoy left running by a previous agent (killed without its stop sequence; only possible when Envoy ran
     * without the parent-death signal) holds the listeners, and a new Envoy would fail to bind. It is recognised
     * by the record in the agent's own directory: the pid, start time and executable the kernel reported while it
     * was LIVE, never by what a command line says, and killed through a handle that carries the start time, so a
     * reused pid is never signalled. It is asked to quit first. With the admin API on TCP, anything else on the
     * admin port stops the start; on the unix socket, the port is nobody's business. The one wait outside the
     * loop's steps: start must not fork epoch 0 before the leftover let go of the ports, bounded by the stop
     * timeout.
     */
    private void stopLeftoverEnvoy() throws IOException, InterruptedException {
        EnvoySettings s = plan.settings();
        List<ProcessIdentity> recorded;
        try {
            recorded = runDirectory.recorded();
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("ignoring the record of Envoy's processes: {}", e.getMessage());
            recorded = List.of();
        }
        List<ProcessHandle> leftovers = new ArrayList<>();
        for (ProcessIdentity process : recorded) {
            Optional<ProcessHandle> handle = ProcessHandle.of(process.pid());
            // The handle is taken before the identity is checked: it kills only the process that started then.
            if (handle.isPresent() && host.identity(process.pid()).filter(process::equals).isPresent()) {
                leftovers.add(handle.get());
            }
        }
        if (!leftovers.isEmpty()) {
            LOG.warn("Envoy left by a previous agent (pids {}) still runs; stopping it",
                    leftovers.stream().map(ProcessHandle::pid).toList());
            admin.post("/quitquitquit");
            for (ProcessHandle handle : leftovers) {
                if (!exits(handle, s.stopTimeout())) {
                    LOG.warn("leftover Envoy pid {} ignored /quitquitquit; killing it", handle.pid());
                    handle.destroyForcibly();
                    exits(handle, s.stopTimeout());
                }
            }
        }
        runDirectory.record(List.of());
        if (!s.adminOnTcp()) {
            return;
        }
        Optional<Long> holder = host.listenerOf(s.adminPort());
        if (holder.isPresent()) {
            String what = host.identity(holder.get()).map(ProcessIdentity::executable).orElse("?");
            throw new IllegalStateException("admin port 127.0.0.1:" + s.adminPort() + " is held by pid "
                    + holder.get() + " (" + what + "), which is not an Envoy this agent started; refusing to start "
                    + "Envoy (or leave VM_AGENT_ENVOY_ADMIN_TCP unset: the admin API then is a unix socket)");
        }
    }

    private static boolean exits(ProcessHandle handle, Duration timeout) throws InterruptedException {
        try {
            handle.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            return !handle.isAlive();
        }
    }
}
