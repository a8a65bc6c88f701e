package io.istiovm.agent.envoy;

import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
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
    private static final Logger LOG = LoggerFactory.getLogger(EnvoySupervision.class);
    private static final String SHARED_MEMORY_PREFIX = "envoy_shared_memory_";
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(1);
    private static final String RESTART_THE_AGENT = "restart the agent (systemctl restart istio-vm-agent)";

    /**
     * What the supervisor knows, as of its last step: whether the current epoch is LIVE, its epoch and pid, every
     * epoch's pid (the current one and parents still retiring), starts, the crash-restart delays so far, how the
     * last crash ended, and the most epochs that were ever alive at once.
     */
    public record Status(boolean live, OptionalInt epoch, OptionalLong pid, List<Long> pids, int starts,
                         List<Duration> restartDelays, Optional<String> lastExit, int mostEpochsAlive) {
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

    /** The stop's drain: readiness off and listeners draining since {@code began}. */
    private record Drain(EnvoyProcess process, Instant began) {
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
    private final List<Duration> restartDelays = new ArrayList<>();
    private String lastExit;
    private int mostEpochsAlive;
    private Drain drain;
    private CompletableFuture<Void> stopDone;
    /** Set when start gave up waiting: epoch 0 must then not be forked, or be killed if it already was. */
    private volatile boolean abandoned;

    private EnvoySupervision(EnvoyPlan plan, ComponentContext context) {
        this.status = context.status();
        this.clock = context.clock();
        this.host = plan.host();
        this.admin = new EnvoyAdminClient(plan.settings().adminPort(), ADMIN_TIMEOUT);
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
        EnvoyProcess serving = current;
        if (serving != null && serving.alive()) {
            status.stopped("stopping: draining epoch " + serving.epoch());
            LOG.info("draining Envoy epoch {}", serving.epoch());
            for (String request : List.of("/healthcheck/fail", "/drain_listeners?inboundonly&graceful")) {
                if (!admin.post(request)) {
                    LOG.warn("Envoy epoch {} did not accept POST {}; draining by time alone", serving.epoch(), request);
                }
            }
            drain = new Drain(serving, now);
        } else {
            terminateAll(now);
        }
        publish();
        loop.wake();
    }

    private Instant stopStep(Instant now) {
        EnvoySettings s = plan.settings();
        if (drain != null) {
            Duration elapsed = Duration.between(drain.began(), now);
            if (drain.process().alive() && elapsed.compareTo(s.minimumDrain()) < 0) {
                return drain.began().plus(s.minimumDrain());
            }
            if (drain.process().alive() && elapsed.compareTo(s.terminationDrain()) < 0
                    && admin.totalConnections().orElse(0) > 0) {
                return earliest(now.plus(s.pollInterval()), drain.began().plus(s.terminationDrain()));
            }
            drain = null;
            terminateAll(now);
        }
        Optional<Instant> deadline = progressTerminations(now);
        if (deadline.isEmpty() && !stopDone.isDone()) {
            current = null;
            parents.clear();
            publish();
            stopDone.complete(null);
        }
        return deadline.map(d -> earliest(d, now.plus(s.pollInterval()))).orElse(now.plus(s.pollInterval()));
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
        }
        if (live) {
            crash = null;
        }
        retireOverdueParents(now);
        Optional<Instant> deadline = progressTerminations(now);
        if (pending == null && current != null && launchedBinary.isPresent()
                && binaryVersion().filter(v -> !v.equals(launchedBinary.get())).isPresent()) {
            LOG.info("Envoy binary {} was replaced; hot restart onto the new one", plan.binary());
            pending = bootstrap;
            pendingSince = now;
        }
        if (pending != null && current != null) {
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
        Instant next = now.plus(s.pollInterval());
        if (restartAt != null) {
            next = earliest(next, restartAt);
        }
        if (pending != null && hotRestartRetryAt != null) {
            next = earliest(next, hotRestartRetryAt);
        }
        return deadline.isPresent() ? earliest(next, deadline.get()) : next;
    }

    /** /server_info, not /ready: while a hot restart hands over, the admin port still answers for the parent. */
    private boolean probe() {
        EnvoyProcess serving = current;
        return serving != null && serving.alive() && admin.serverInfo()
                .filter(info -> info.state().equals("LIVE") && info.epoch() == serving.epoch()).isPresent();
    }

    private void report() {
        if (current != null && live) {
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

    private void exited(EnvoyProcess process, Instant now) {
        terminating.remove(process);
        if (parents.remove(process)) {
            LOG.info("Envoy epoch {} (pid {}) retired (exit value {})", process.epoch(), process.pid(),
                    process.exitValue());
            deleteBootstrap(process);
            return;
        }
        if (process != current) {
            return;
        }
        current = null;
        live = false;
        if (stopDone != null) {
            return;
        }
        ExitStatus exit = new ExitStatus(process.exitValue(), oomKillsAtStart, host.oomKills());
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

    /** Records a crash of a process that ran from {@code started} until {@code now} and schedules the restart. */
    private void crashed(String what, Instant started, Instant now) {
        Duration delay = backoff.afterCrash(started, now);
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
        // Parents that are gone stay listed until their exit is handled, which deletes their bootstrap file.
        parents.add(previous);
        try {
            launch(previous.epoch() + 1, next, now);
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
        LOG.info("hot restart: epoch {} -> {} (bootstrap sha256 {})", previous.epoch(), previous.epoch() + 1,
                next.digest());
    }

    private void retireOverdueParents(Instant now) {
        Duration grace = plan.settings().parentShutdownTime().plus(plan.settings().stopTimeout());
        for (EnvoyProcess parent : parents) {
            if (parent.alive() && Duration.between(parent.started(), now).compareTo(grace) > 0
                    && current != null && Duration.between(current.started(), now).compareTo(grace) > 0) {
                LOG.warn("Envoy epoch {} (pid {}) outlived its parent shutdown time; killing it", parent.epoch(),
                        parent.pid());
                parent.kill();
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
                LOG.info("Envoy epoch {} (pid {}) stopped", process.epoch(), process.pid());
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
        Path file = writeBootstrap(epoch, config);
        List<String> command = plan.command(file, epoch);
        OptionalLong oomKills = host.oomKills();
        Optional<List<Object>> binary = binaryVersion();
        EnvoyProcess process = EnvoyProcess.start(epoch, command, now);
        current = process;
        bootstrap = config;
        oomKillsAtStart = oomKills;
        launchedBinary = binary;
        starts++;
        int alive = 1 + (int) parents.stream().filter(EnvoyProcess::alive).count();
        mostEpochsAlive = Math.max(mostEpochsAlive, alive);
        process.onExit().thenRun(() -> {
            events.add(new Exited(process));
            loop.wake();
        });
        LOG.info("started Envoy epoch {} pid {}{}", epoch, process.pid(),
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
                pids, starts, restartDelays, Optional.ofNullable(lastExit), mostEpochsAlive);
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
     * Istio VM crash loop, istio/istio#21460). Called only when no Envoy of ours runs.
     */
    private void removeStaleSharedMemory() throws IOException {
        Path dir = plan.settings().sharedMemoryDir();
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        // Held, and its entries removed by name: the directory is writable by Envoy's user.
        try (HeldDirectory held = HeldDirectory.open(dir);
             DirectoryStream<Path> files = Files.newDirectoryStream(held.self(), SHARED_MEMORY_PREFIX + "*")) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (held.delete(name)) {
                    LOG.info("removed stale Envoy shared memory {}", dir.resolve(name));
                }
            }
        }
    }

    /**
     * An Envoy left running by a previous agent (killed without its stop sequence) holds the admin port and the
     * listeners; a new Envoy would fail to bind. Ask it to quit, then kill it. Anything else on the admin port is
     * refused rather than killed. The one wait outside the loop's steps: start must not fork epoch 0 before the
     * leftover let go of the port, and it waits on the leftover's exit, bounded by the stop timeout.
     */
    private void stopLeftoverEnvoy() throws IOException, InterruptedException {
        EnvoySettings s = plan.settings();
        Optional<Long> holder = host.listenerOf(s.adminPort());
        if (holder.isEmpty()) {
            return;
        }
        long pid = holder.get();
        String commandLine = host.commandLine(pid).orElse("?");
        String binaryName = plan.binary().getFileName().toString();
        if (!commandLine.contains("--restart-epoch") && !commandLine.contains(binaryName)) {
            throw new IllegalStateException("admin port 127.0.0.1:" + s.adminPort() + " is held by pid " + pid
                    + " (" + commandLine + "), which is not an Envoy; refusing to start Envoy");
        }
        LOG.warn("an Envoy left by a previous agent (pid {}: {}) holds the admin port; stopping it", pid,
                commandLine);
        admin.post("/quitquitquit");
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isPresent() && !exits(handle.get(), s.stopTimeout())) {
            LOG.warn("leftover Envoy pid {} ignored /quitquitquit; killing it", pid);
            handle.get().destroyForcibly();
            exits(handle.get(), s.stopTimeout());
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
