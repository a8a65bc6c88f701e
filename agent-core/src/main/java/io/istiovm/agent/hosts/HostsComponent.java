package io.istiovm.agent.hosts;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.daemon.Component;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the hosts block right while the agent runs: renders it at start, then watches the sources and the hosts
 * file's directory (inotify) and re-renders shortly after any change, and at least every check interval, so that
 * an edit of the block by someone else is repaired. Invalid sources keep the previous block in place.
 */
public final class HostsComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(HostsComponent.class);
    /** Long enough to fold an editor's save (write, rename, chmod) into one render, short enough to go unnoticed. */
    static final Duration QUIET = Duration.ofMillis(50);
    static final Duration MAX_DELAY = Duration.ofSeconds(1);
    static final int STALE_ATTEMPTS = 5;

    private final HostsInputs inputs;
    private final Path target;
    private final Clock clock;
    private final Duration checkInterval;
    private final HostsFileWriter writer;

    private volatile boolean ready;
    private volatile boolean running;
    private WatchService watcher;
    private WatchKey dropInKey;
    private Thread thread;
    private List<String> lastReport = List.of();

    public HostsComponent(HostsInputs inputs, Path target, Clock clock, Duration checkInterval,
                          HostsFileWriter writer) {
        this.inputs = Objects.requireNonNull(inputs, "inputs");
        this.target = Objects.requireNonNull(target, "target");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.checkInterval = Objects.requireNonNull(checkInterval, "checkInterval");
        this.writer = Objects.requireNonNull(writer, "writer");
    }

    public static HostsComponent forConfig(AgentConfig config) {
        return new HostsComponent(HostsInputs.from(config), config.get(ConfigKeys.VM_AGENT_HOSTS_FILE),
                Clock.systemUTC(), config.get(ConfigKeys.VM_AGENT_HOSTS_VERIFY_INTERVAL), new HostsFileWriter());
    }

    @Override
    public String name() {
        return "hosts";
    }

    /** Reads and validates every source against the current file; invalid sources are refused here. */
    @Override
    public void prepare() throws IOException, ConfigException {
        HostsPlanner.apply(inputs, target);
    }

    @Override
    public synchronized void start() throws IOException, ConfigException {
        writer.recover(target);
        watcher = FileSystems.getDefault().newWatchService();
        try {
            register(inputs.configDirectory());
            register(target.toAbsolutePath().getParent());
            registerDropIns();
            // A file edited between reading and writing is planned again (the edit is kept, not overwritten).
            for (int attempt = 0; attempt < STALE_ATTEMPTS; attempt++) {
                HostsPlan plan = HostsPlanner.apply(inputs, target);
                report(plan.warnings(), false);
                if (apply(plan)) {
                    break;
                }
            }
        } catch (IOException | ConfigException | RuntimeException e) {
            watcher.close();
            throw e;
        }
        running = true;
        thread = new Thread(this::loop, "hosts-watcher");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public boolean ready() {
        return ready;
    }

    @Override
    public void describe(PrintWriter out) {
        try {
            HostsPlan plan = HostsPlanner.apply(inputs, target);
            plan.describe(out);
            plan.warnings().forEach(w -> out.println("# " + w.render()));
        } catch (ConfigException e) {
            e.problems().forEach(p -> out.println("# " + p.render()));
        } catch (IOException e) {
            out.println("# " + target + ": cannot be read: " + e.getMessage());
        }
    }

    /** Stops watching, then removes the block (the names are meaningless without the rest of the agent). */
    @Override
    public void stop() throws IOException, InterruptedException, ConfigException {
        Thread running;
        synchronized (this) {
            this.running = false;
            running = thread;
            if (watcher != null) {
                watcher.close();
            }
        }
        if (running != null) {
            running.join();
        }
        ready = false;
        writer.write(target, HostsPlanner.clean(target).desired());
    }

    private void loop() {
        Debouncer debouncer = new Debouncer(QUIET, MAX_DELAY, checkInterval, clock.instant());
        try {
            while (running) {
                if (registerDropIns()) {
                    debouncer.changed(clock.instant());
                }
                long wait = Duration.between(clock.instant(), debouncer.deadline()).toMillis();
                WatchKey key = wait <= 0 ? watcher.poll() : watcher.poll(wait, TimeUnit.MILLISECONDS);
                while (key != null) {
                    if (relevant(key)) {
                        debouncer.changed(clock.instant());
                    }
                    key.reset();
                    key = watcher.poll();
                }
                if (running && debouncer.due(clock.instant())) {
                    if (!reconcile()) {
                        debouncer.changed(clock.instant());
                    }
                }
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // stop() closed the watcher.
        }
    }

    /** Plans and writes once; false when the file changed under the plan and another round is needed. */
    private boolean reconcile() {
        try {
            HostsPlan plan = HostsPlanner.apply(inputs, target);
            report(plan.warnings(), false);
            return apply(plan);
        } catch (ConfigException e) {
            report(e.problems(), true);
            ready = false;
        } catch (IOException | RuntimeException e) {
            LOG.error("{}: cannot update the istio-vm-agent block: {}", target, e.toString());
            ready = false;
        }
        return true;
    }

    private boolean apply(HostsPlan plan) throws IOException {
        HostsFileWriter.Method method = writer.write(target, plan.current().bytes(), plan.desired());
        if (method == HostsFileWriter.Method.STALE) {
            return false;
        }
        if (method != HostsFileWriter.Method.UNCHANGED) {
            LOG.info("{}: istio-vm-agent block written ({} line(s), {})", target, plan.block().lines().size(),
                    method == HostsFileWriter.Method.RENAMED ? "replaced atomically" : "rewritten in place");
        }
        ready = true;
        return true;
    }

    /** Logs problems when they differ from the last ones logged, so a broken source is reported once, not forever. */
    private void report(List<ConfigProblem> problems, boolean failed) {
        List<String> rendered = problems.stream().map(ConfigProblem::render).toList();
        if (rendered.equals(lastReport)) {
            return;
        }
        lastReport = rendered;
        for (ConfigProblem problem : problems) {
            if (problem.isError()) {
                LOG.error("{}", problem.render());
            } else {
                LOG.warn("{}", problem.render());
            }
        }
        if (failed) {
            LOG.error("hosts sources are invalid; the istio-vm-agent block in {} is kept as it was", target);
        }
    }

    private void register(Path directory) throws IOException {
        directory.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                StandardWatchEventKinds.ENTRY_MODIFY);
    }

    /** Watches hosts.d once it exists (it may be created after start); true when it was newly registered. */
    private synchronized boolean registerDropIns() {
        if ((dropInKey != null && dropInKey.isValid()) || !Files.isDirectory(inputs.dropInDirectory())) {
            return false;
        }
        try {
            dropInKey = inputs.dropInDirectory().register(watcher, StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_DELETE, StandardWatchEventKinds.ENTRY_MODIFY);
            return true;
        } catch (IOException e) {
            LOG.warn("{}: cannot watch: {}; changes are picked up every {}", inputs.dropInDirectory(), e.getMessage(),
                    checkInterval);
            return false;
        }
    }

    private boolean relevant(WatchKey key) {
        Path directory = (Path) key.watchable();
        for (WatchEvent<?> event : key.pollEvents()) {
            if (event.kind() == StandardWatchEventKinds.OVERFLOW) {
                return true;
            }
            Path changed = directory.resolve((Path) event.context());
            if (directory.equals(inputs.dropInDirectory())) {
                if (HostsSources.isSource(changed.getFileName().toString())) {
                    return true;
                }
            } else if (changed.equals(inputs.hostsFile()) || changed.equals(inputs.dropInDirectory())
                    || changed.equals(target.toAbsolutePath())) {
                return true;
            }
        }
        return false;
    }
}
