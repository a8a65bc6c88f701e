package io.istiovm.agent.envoy;

import io.istiovm.agent.daemon.Component;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps Envoy running: starts epoch 0, reports ready while the current epoch is LIVE, restarts a crashed Envoy
 * with {@link RestartBackoff}, hot-restarts into a new epoch when the bootstrap ({@link #reload}) or the binary
 * (a package upgrade) changes, and drains on stop.
 *
 * <p>All process work happens on one thread, the supervisor loop. That is a correctness matter, not style:
 * Envoy is started with a parent-death signal, which the kernel ties to the thread that forked it, so the thread
 * must live as long as the supervisor does.
 */
public final class EnvoySupervisor implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(EnvoySupervisor.class);
    private static final String SHARED_MEMORY_PREFIX = "envoy_shared_memory_";

    /** Sleeps between drain checks; injected so that a test could run the stop sequence without real waiting. */
    @FunctionalInterface
    public interface Sleeper {
        /** Real time, as the daemon waits. */
        Sleeper REAL = duration -> Thread.sleep(duration.toMillis());

        void sleep(Duration duration) throws InterruptedException;
    }

    /** What the supervisor knows now; for status output and tests. */
    public record Status(boolean ready, OptionalInt epoch, OptionalLong pid, List<Long> alivePids, int starts,
                         List<Duration> restartDelays, Optional<String> lastExit, int mostEpochsAlive) {
    }

    private sealed interface Event {
    }

    private record Started(CompletableFuture<Void> done) implements Event {
    }

    private record Exited(EnvoyProcess process) implements Event {
    }

    private record Reload(EnvoyBootstrap bootstrap) implements Event {
    }

    private record Stop(CompletableFuture<Void> done) implements Event {
    }

    private final EnvoySettings settings;
    private final Path binary;
    private final Optional<ProcessUser> runAs;
    private final Clock clock;
    private final Sleeper sleeper;
    private final HostProcesses host;
    private final EnvoyAdminClient admin;
    private final RestartBackoff backoff;
    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();

    // Written only by the loop thread; read under the lock by status()/ready().
    private EnvoyBootstrap bootstrap;
    private EnvoyBootstrap pending;
    private Instant pendingSince;
    private EnvoyProcess current;
    private final List<EnvoyProcess> parents = new ArrayList<>();
    private Instant restartAt;
    private OptionalLong oomKillsAtStart = OptionalLong.empty();
    private Optional<List<Object>> launchedBinary = Optional.empty();
    private boolean ready;
    private boolean stopping;
    private int starts;
    private final List<Duration> restartDelays = new ArrayList<>();
    private String lastExit;
    private int mostEpochsAlive;
    private Thread loop;

    /**
     * {@code runAs} empty means Envoy runs as the agent's own user (the agent already is ENVOY_USER); otherwise
     * {@code setpriv} switches to it.
     */
    public EnvoySupervisor(EnvoySettings settings, EnvoyBootstrap bootstrap, Path binary,
                           Optional<ProcessUser> runAs, Clock clock, Sleeper sleeper) {
        this(settings, bootstrap, binary, runAs, clock, sleeper, HostProcesses.system());
    }

    EnvoySupervisor(EnvoySettings settings, EnvoyBootstrap bootstrap, Path binary, Optional<ProcessUser> runAs,
                    Clock clock, Sleeper sleeper, HostProcesses host) {
        this.settings = settings;
        this.bootstrap = bootstrap;
        this.binary = binary;
        this.runAs = runAs;
        this.clock = clock;
        this.sleeper = sleeper;
        this.host = host;
        this.admin = new EnvoyAdminClient(settings.adminPort(), Duration.ofSeconds(1));
        this.backoff = new RestartBackoff(settings.restartBackoff(), settings.restartBackoffMax(),
                settings.stablePeriod());
    }

    /**
     * The binary to run: the configured one, or, when the default /usr/local/bin/envoy is missing, the
     * /usr/bin/envoy a distribution package would install.
     */
    public static Path resolveBinary(EnvoySettings settings, java.util.function.Predicate<Path> executable) {
        if (executable.test(settings.binary())) {
            return settings.binary();
        }
        Path fallback = Path.of("/usr/bin/envoy");
        if (settings.binaryIsDefault() && executable.test(fallback)) {
            return fallback;
        }
        throw new IllegalArgumentException("Envoy binary not found or not executable: " + settings.binary()
                + (settings.binaryIsDefault() ? " (nor " + fallback + ")" : "") + "; set VM_AGENT_ENVOY_BINARY");
    }

    @Override
    public String name() {
        return "envoy";
    }

    @Override
    public void start() throws Exception {
        synchronized (this) {
            if (loop != null) {
                throw new IllegalStateException("already started");
            }
            loop = new Thread(this::run, "envoy-supervisor");
        }
        CompletableFuture<Void> started = new CompletableFuture<>();
        events.add(new Started(started));
        loop.start();
        try {
            started.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }

    @Override
    public synchronized boolean ready() {
        return ready && !stopping;
    }

    /** Hot-restarts into {@code next} (ignored when it equals the running bootstrap). */
    public void reload(EnvoyBootstrap next) {
        events.add(new Reload(next));
    }

    public synchronized Status status() {
        List<Long> alive = new ArrayList<>();
        for (EnvoyProcess parent : parents) {
            if (parent.alive()) {
                alive.add(parent.pid());
            }
        }
        if (current != null && current.alive()) {
            alive.add(current.pid());
        }
        return new Status(ready && !stopping,
                current == null ? OptionalInt.empty() : OptionalInt.of(current.epoch()),
                current == null ? OptionalLong.empty() : OptionalLong.of(current.pid()),
                alive, starts, List.copyOf(restartDelays), Optional.ofNullable(lastExit), mostEpochsAlive);
    }

    @Override
    public void describe(PrintWriter out) {
        out.println("envoy: " + String.join(" ", command(settings.configDir().resolve("envoy-rev0.json"), 0)));
        out.println("envoy: admin 127.0.0.1:" + settings.adminPort() + ", bootstrap sha256 " + bootstrap.digest());
        out.println("envoy: crash restart after 0s, then " + format(settings.restartBackoff()) + " doubling up to "
                + format(settings.restartBackoffMax()) + "; stop drains " + format(settings.minimumDrain()) + " to "
                + format(settings.terminationDrain()) + ", SIGKILL after " + format(settings.stopTimeout()));
    }

    private static String format(Duration duration) {
        return io.istiovm.agent.config.ValueTypes.formatDuration(duration);
    }

    @Override
    public void stop() throws Exception {
        Thread thread;
        synchronized (this) {
            thread = loop;
            stopping = true;
        }
        if (thread == null || !thread.isAlive()) {
            return;
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        events.add(new Stop(done));
        done.get();
        thread.join();
    }

    // ---- the loop ----------------------------------------------------------------------------------------

    private void run() {
        boolean running = true;
        while (running) {
            try {
                Event event = events.poll(waitMillis(), TimeUnit.MILLISECONDS);
                if (event != null) {
                    running = handle(event);
                }
                if (running) {
                    tick();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                LOG.error("envoy supervisor loop failed; continuing", e);
            }
        }
    }

    private long waitMillis() {
        long poll = settings.pollInterval().toMillis();
        if (restartAt != null) {
            poll = Math.min(poll, Math.max(0, Duration.between(clock.instant(), restartAt).toMillis()));
        }
        return poll;
    }

    private boolean handle(Event event) throws InterruptedException {
        if (event instanceof Started s) {
            try {
                stopLeftoverEnvoy();
                launch(0);
                s.done().complete(null);
            } catch (Exception e) {
                s.done().completeExceptionally(e);
                return false;
            }
        } else if (event instanceof Exited e) {
            exited(e.process());
        } else if (event instanceof Reload r) {
            requestReload(r.bootstrap());
        } else if (event instanceof Stop s) {
            try {
                drainAndStop();
                s.done().complete(null);
            } catch (RuntimeException e) {
                s.done().completeExceptionally(e);
            }
            return false;
        }
        return true;
    }

    private void tick() {
        Instant now = clock.instant();
        if (current == null && restartAt != null && !now.isBefore(restartAt)) {
            restartAt = null;
            try {
                launch(0);
            } catch (IOException e) {
                LOG.error("cannot start Envoy: {}", e.toString());
                Duration delay = backoff.afterCrash(now, now);
                record(delay);
                restartAt = now.plus(delay);
            }
        }
        // /server_info, not /ready: while a hot restart hands over, the admin port still answers for the parent.
        EnvoyProcess serving = current;
        boolean live = serving != null && serving.alive() && admin.serverInfo()
                .filter(info -> info.state().equals("LIVE") && info.epoch() == serving.epoch()).isPresent();
        synchronized (this) {
            if (live != ready) {
                LOG.info("Envoy epoch {} is {}", current == null ? "-" : current.epoch(), live ? "LIVE" : "not LIVE");
            }
            ready = live;
        }
        retireParents(now);
        if (pending == null && current != null && launchedBinary.isPresent()
                && binaryVersion().filter(v -> !v.equals(launchedBinary.get())).isPresent()) {
            LOG.info("Envoy binary {} was replaced; hot restart onto the new one", binary);
            pending = bootstrap;
            pendingSince = now;
        }
        if (pending != null && current != null) {
            if (live) {
                hotRestart(pending);
            } else if (Duration.between(pendingSince, now).compareTo(settings.liveTimeout()) > 0) {
                LOG.warn("hot restart waits: Envoy epoch {} has not been LIVE for {}; it will happen once it is",
                        current.epoch(), settings.liveTimeout());
                pendingSince = now;
            }
        }
    }

    private void exited(EnvoyProcess process) {
        boolean wasParent;
        synchronized (this) {
            wasParent = parents.remove(process);
        }
        if (wasParent) {
            LOG.info("Envoy epoch {} (pid {}) retired (exit value {})", process.epoch(), process.pid(),
                    process.exitValue());
            return;
        }
        if (process != current) {
            return;
        }
        Instant now = clock.instant();
        ExitStatus status = new ExitStatus(process.exitValue(), oomKillsAtStart, host.oomKills());
        Duration delay = backoff.afterCrash(process.started(), now);
        synchronized (this) {
            current = null;
            ready = false;
            lastExit = status.describe();
            record(delay);
        }
        LOG.error("Envoy epoch {} (pid {}) {} after {} ms; restarting in {} ms (crash {} in a row)",
                process.epoch(), process.pid(), status.describe(),
                Duration.between(process.started(), now).toMillis(), delay.toMillis(),
                backoff.consecutiveCrashes());
        for (EnvoyProcess parent : List.copyOf(parents)) {
            // Without its child a draining parent serves nothing; the restart starts a fresh epoch 0.
            parent.kill();
        }
        restartAt = now.plus(delay);
    }

    private synchronized void record(Duration delay) {
        restartDelays.add(delay);
    }

    private void requestReload(EnvoyBootstrap next) {
        if (next.digest().equals(bootstrap.digest()) && pending == null) {
            LOG.info("bootstrap unchanged (sha256 {}); no hot restart", next.digest());
            return;
        }
        if (current == null) {
            bootstrap = next;
            LOG.info("bootstrap changed while Envoy is down; the next start uses it");
            return;
        }
        pending = next;
        pendingSince = clock.instant();
    }

    private void hotRestart(EnvoyBootstrap next) {
        pending = null;
        for (EnvoyProcess parent : List.copyOf(parents)) {
            // At most two epochs: the one serving and the one starting. An older parent goes first.
            LOG.info("retiring Envoy epoch {} (pid {}) early to keep at most two epochs", parent.epoch(),
                    parent.pid());
            terminate(parent);
        }
        EnvoyProcess previous = current;
        bootstrap = next;
        try {
            synchronized (this) {
                parents.add(previous);
                current = null;
            }
            launch(previous.epoch() + 1);
            LOG.info("hot restart: epoch {} -> {} (bootstrap sha256 {})", previous.epoch(), previous.epoch() + 1,
                    next.digest());
        } catch (IOException e) {
            LOG.error("hot restart failed to start epoch {}: {}; epoch {} keeps serving", previous.epoch() + 1,
                    e.toString(), previous.epoch());
            synchronized (this) {
                parents.remove(previous);
                current = previous;
            }
        }
    }

    private void retireParents(Instant now) {
        Duration grace = settings.parentShutdownTime().plus(settings.stopTimeout());
        for (EnvoyProcess parent : List.copyOf(parents)) {
            if (parent.alive() && Duration.between(parent.started(), now).compareTo(grace) > 0
                    && current != null && Duration.between(current.started(), now).compareTo(grace) > 0) {
                LOG.warn("Envoy epoch {} (pid {}) outlived its parent shutdown time; killing it", parent.epoch(),
                        parent.pid());
                parent.kill();
            }
        }
    }

    private void launch(int epoch) throws IOException {
        if (epoch == 0) {
            removeStaleSharedMemory();
        }
        Path file = writeBootstrap(epoch);
        List<String> command = command(file, epoch);
        oomKillsAtStart = host.oomKills();
        launchedBinary = binaryVersion();
        EnvoyProcess process = EnvoyProcess.start(epoch, command, clock.instant());
        synchronized (this) {
            current = process;
            starts++;
            int alive = 1 + (int) parents.stream().filter(EnvoyProcess::alive).count();
            mostEpochsAlive = Math.max(mostEpochsAlive, alive);
        }
        process.onExit().thenRun(() -> events.add(new Exited(process)));
        LOG.info("started Envoy epoch {} pid {}{}", epoch, process.pid(),
                runAs.map(u -> " as uid " + u.uid() + " gid " + u.gid()).orElse(""));
    }

    /** Identity of the binary file: a package upgrade replaces it (new inode) or rewrites it (new mtime/size). */
    private Optional<List<Object>> binaryVersion() {
        try {
            BasicFileAttributes attributes = Files.readAttributes(binary, BasicFileAttributes.class);
            return Optional.of(List.of(String.valueOf(attributes.fileKey()), attributes.lastModifiedTime(),
                    attributes.size()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private List<String> command(Path bootstrapFile, int epoch) {
        List<String> envoy = EnvoyCommandLine.envoy(settings, binary, bootstrapFile, epoch);
        return runAs.map(u -> EnvoyCommandLine.asUser(u, envoy)).orElse(envoy);
    }

    private Path writeBootstrap(int epoch) throws IOException {
        Path dir = settings.configDir();
        Files.createDirectories(dir);
        Path file = dir.resolve("envoy-rev" + epoch + ".json");
        Path temp = dir.resolve(".envoy-rev" + epoch + ".json.tmp");
        Files.writeString(temp, bootstrap.json());
        // No secrets in it (they come over SDS), and Envoy's user must read it.
        Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-r--r--"));
        Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return file;
    }

    /**
     * Envoy's hot-restart shared memory outlives a crashed Envoy and makes the next epoch 0 fail to start (the
     * Istio VM crash loop, istio/istio#21460). Called only when no Envoy of ours runs.
     */
    private void removeStaleSharedMemory() throws IOException {
        Path dir = settings.sharedMemoryDir();
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, SHARED_MEMORY_PREFIX + "*")) {
            for (Path file : files) {
                Files.deleteIfExists(file);
                LOG.info("removed stale Envoy shared memory {}", file);
            }
        }
    }

    /**
     * An Envoy left running by a previous agent (killed without its stop sequence) holds the admin port and the
     * listeners; a new Envoy would fail to bind. Ask it to quit, then kill it. Anything else on the admin port is
     * refused rather than killed.
     */
    private void stopLeftoverEnvoy() throws IOException, InterruptedException {
        Optional<Long> holder = host.listenerOf(settings.adminPort());
        if (holder.isEmpty()) {
            return;
        }
        long pid = holder.get();
        String commandLine = host.commandLine(pid).orElse("?");
        if (!commandLine.contains("--restart-epoch") && !commandLine.contains(binary.getFileName().toString())) {
            throw new IllegalStateException("admin port 127.0.0.1:" + settings.adminPort() + " is held by pid " + pid
                    + " (" + commandLine + "), which is not an Envoy; refusing to start Envoy");
        }
        LOG.warn("an Envoy left by a previous agent (pid {}: {}) holds the admin port; stopping it", pid,
                commandLine);
        admin.post("/quitquitquit");
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isPresent() && !waitForExit(handle.get(), settings.stopTimeout())) {
            LOG.warn("leftover Envoy pid {} ignored /quitquitquit; killing it", pid);
            handle.get().destroyForcibly();
            waitForExit(handle.get(), settings.stopTimeout());
        }
    }

    private static boolean waitForExit(ProcessHandle handle, Duration timeout) throws InterruptedException {
        try {
            handle.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            return !handle.isAlive();
        }
    }

    /**
     * Istio's stop, in order: readiness off (already, {@link #ready()} checks {@code stopping}), Envoy fails its
     * health checks, inbound listeners drain gracefully, wait at least MINIMUM_DRAIN_DURATION and then until no
     * connection is left or TERMINATION_DRAIN_DURATION has passed, SIGTERM, and SIGKILL after the stop timeout.
     */
    private void drainAndStop() throws InterruptedException {
        synchronized (this) {
            stopping = true;
            ready = false;
            restartAt = null;
        }
        EnvoyProcess serving = current;
        if (serving != null && serving.alive()) {
            LOG.info("draining Envoy epoch {}", serving.epoch());
            for (String request : List.of("/healthcheck/fail", "/drain_listeners?inboundonly&graceful")) {
                if (!admin.post(request)) {
                    LOG.warn("Envoy epoch {} did not accept POST {}; draining by time alone", serving.epoch(), request);
                }
            }
            Instant began = clock.instant();
            sleeper.sleep(settings.minimumDrain());
            while (serving.alive() && Duration.between(began, clock.instant()).compareTo(settings.terminationDrain()) < 0
                    && admin.totalConnections().orElse(0) > 0) {
                sleeper.sleep(settings.pollInterval());
            }
        }
        List<EnvoyProcess> all = new ArrayList<>(parents);
        if (serving != null) {
            all.add(serving);
        }
        for (EnvoyProcess process : all) {
            terminate(process);
        }
        synchronized (this) {
            current = null;
            parents.clear();
        }
    }

    private void terminate(EnvoyProcess process) {
        if (!process.alive()) {
            return;
        }
        process.terminate();
        try {
            if (!process.awaitExit(settings.stopTimeout())) {
                LOG.warn("Envoy epoch {} (pid {}) did not exit {} after SIGTERM; SIGKILL", process.epoch(),
                        process.pid(), settings.stopTimeout());
                process.kill();
                process.awaitExit(settings.stopTimeout());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.kill();
        }
        LOG.info("Envoy epoch {} (pid {}) stopped", process.epoch(), process.pid());
    }
}
