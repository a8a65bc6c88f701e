package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Debouncer;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the hosts block right while the agent runs: writes it at start, then re-plans shortly after any change of
 * the sources or of the hosts file (seen through {@link FileEvents}), and at least every check interval, so that an
 * edit of the block by someone else is repaired. Invalid sources keep the previous block in place. A reload writes
 * the block of the new settings if it differs; stop removes the block (its names mean nothing without the agent).
 */
public final class HostsComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(HostsComponent.class);
    /** Long enough to fold an editor's save (write, rename, chmod) into one render, short enough to go unnoticed. */
    static final Duration QUIET = Duration.ofMillis(50);
    static final Duration MAX_DELAY = Duration.ofSeconds(1);

    private final HostsSettings settings;
    private final FileEvents fileEvents;

    public HostsComponent(HostsSettings settings, FileEvents fileEvents) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.fileEvents = Objects.requireNonNull(fileEvents, "fileEvents");
    }

    @Override
    public String name() {
        return "hosts";
    }

    /** Reads and validates every source against the current file; invalid sources are refused here. */
    @Override
    public Prepared prepare() throws IOException, ConfigException {
        return new Block(settings, HostsPlanner.apply(settings), fileEvents);
    }

    /** The block the sources asked for when prepared, and how it differs from the file then. */
    private record Block(HostsSettings settings, HostsPlan plan, FileEvents fileEvents) implements Prepared {

        @Override
        public void describe(PrintWriter out) {
            plan.describe(out);
            plan.warnings().forEach(w -> out.println("# " + w.render()));
        }

        @Override
        public Running start(ComponentContext context) throws IOException, ConfigException {
            Watcher watcher = new Watcher(settings, fileEvents, context);
            watcher.start(plan);
            return watcher;
        }
    }

    /**
     * The running block. Its state belongs to the loop's thread: file-event callbacks only note a change and wake
     * the loop, and a reload runs on the loop as a task.
     */
    private static final class Watcher implements Running {
        private final FileEvents fileEvents;
        private final ComponentContext context;
        private final StatusReporter status;
        private final HostsFileWriter writer = new HostsFileWriter();
        private final AtomicBoolean changed = new AtomicBoolean();
        private final List<FileEvents.Registration> registrations = new ArrayList<>();
        private volatile HostsSettings settings;
        private volatile Loop loop;
        private FileEvents.Registration dropIns;
        private boolean dropInsUnwatchable;
        private Debouncer debouncer;
        private List<String> lastReport = List.of();

        Watcher(HostsSettings settings, FileEvents fileEvents, ComponentContext context) {
            this.settings = settings;
            this.fileEvents = fileEvents;
            this.context = context;
            this.status = context.status();
        }

        /** Watches first, so that no change after the write goes unseen; then writes {@code plan}. */
        void start(HostsPlan plan) throws IOException, ConfigException {
            try {
                registrations.add(fileEvents.watch(settings.configDirectory(), this::onEvents));
                registrations.add(fileEvents.watch(settings.target().getParent(), this::onEvents));
                watchDropIns();
                writer.recover(settings.target());
                wrote(writer.write(plan, () -> HostsPlanner.apply(settings)));
            } catch (IOException | ConfigException | RuntimeException e) {
                unwatch();
                throw e;
            }
            debouncer = new Debouncer(QUIET, MAX_DELAY, settings.checkInterval(), context.clock().instant());
            loop = context.startLoop(this::step);
        }

        /** On the file-events thread: note and wake, nothing more. */
        private void onEvents(List<Path> paths) {
            if (paths.stream().anyMatch(this::relevant)) {
                changed.set(true);
                Loop running = loop;
                if (running != null) {
                    running.wake();
                }
            }
        }

        private boolean relevant(Path changedPath) {
            HostsSettings current = settings;
            Path dropInDirectory = current.dropInDirectory();
            if (dropInDirectory.equals(changedPath.getParent())) {
                return HostsSources.isSource(changedPath.getFileName().toString());
            }
            // A watched directory itself stands for an overflow or its removal.
            return changedPath.equals(dropInDirectory) || changedPath.equals(current.hostsFile())
                    || changedPath.equals(current.target()) || changedPath.equals(current.configDirectory())
                    || changedPath.equals(current.target().getParent());
        }

        private Instant step(Instant now) {
            if (watchDropIns()) {
                // Files may have arrived before the watch did.
                debouncer.changed(now);
            }
            if (changed.getAndSet(false)) {
                debouncer.changed(now);
            }
            if (debouncer.due(now) && !reconcile()) {
                debouncer.changed(now);
            }
            return debouncer.deadline();
        }

        /** Plans and writes once; false when the file kept changing under the plan and another round is needed. */
        private boolean reconcile() {
            try {
                wrote(writer.apply(settings));
            } catch (HostsFileWriter.StaleException e) {
                LOG.warn("{}; trying again", e.getMessage());
                return false;
            } catch (ConfigException e) {
                report(e.problems(), true);
                ConfigProblem first = e.errors().isEmpty() ? e.problems().get(0) : e.errors().get(0);
                status.failed("hosts sources are invalid, the block is kept as it was: " + first.render());
            } catch (IOException | RuntimeException e) {
                LOG.error("{}: cannot update the istio-vm-agent block: {}", settings.target(), e.toString());
                status.failed("cannot update " + settings.target() + ": " + e.getMessage());
            }
            return true;
        }

        private void wrote(HostsFileWriter.Written written) {
            HostsPlan plan = written.plan();
            report(plan.warnings(), false);
            if (written.method() != HostsFileWriter.Method.UNCHANGED) {
                context.agent().metrics().hostsUpdated();
                LOG.atInfo().addKeyValue("HOSTS_ENTRIES", plan.block().lines().size())
                        .log("{}: istio-vm-agent block written ({} line(s), {})", plan.target(),
                                plan.block().lines().size(), how(written.method()));
            }
            // Facts before the phase: whoever sees READY sees the block that makes it so.
            status.facts(facts(plan));
            status.ready(plan.block().isEmpty() ? "no names to map; " + plan.target() + " has no block"
                    : "block of " + plan.block().lines().size() + " line(s) in " + plan.target());
        }

        /** What the hosts block holds, for STATUS=, /debug/status and metrics: its address lines and its file. */
        static Map<String, String> facts(HostsPlan plan) {
            Map<String, String> facts = new LinkedHashMap<>();
            facts.put("entries", Integer.toString(plan.block().lines().size()));
            facts.put("names", Integer.toString(plan.block().lines().stream().mapToInt(l -> l.names().size()).sum()));
            facts.put("file", plan.target().toString());
            return facts;
        }

        private static String how(HostsFileWriter.Method method) {
            return method == HostsFileWriter.Method.RENAMED ? "replaced atomically" : "rewritten in place";
        }

        /**
         * Reconciles on the loop's thread, so that a reload and the loop never write over each other's plans. The
         * files cannot move on reload: the new sources are applied where the block is, and the move is reported.
         */
        @Override
        public Reconciled reload(Prepared next) throws Exception {
            if (!(next instanceof Block block)) {
                throw new IllegalArgumentException("not a hosts plan: " + next);
            }
            try {
                return loop.submit(() -> reconcileTo(block)).get();
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception cause ? cause : e;
            }
        }

        private Reconciled reconcileTo(Block next) throws ConfigException, IOException {
            HostsSettings running = settings;
            HostsSettings wanted = next.settings().at(running);
            boolean moved = next.settings().movedFrom(running);
            HostsFileWriter.Written written = moved ? writer.apply(wanted)
                    : writer.write(next.plan(), () -> HostsPlanner.apply(wanted));
            settings = wanted;
            if (!wanted.checkInterval().equals(running.checkInterval())) {
                // Not a new debouncer: that would drop a change noted but not yet written.
                debouncer.checkEvery(wanted.checkInterval(), context.clock().instant());
                loop.wake();
            }
            wrote(written);
            Reconciled outcome = written.method() == HostsFileWriter.Method.UNCHANGED ? Reconciled.unchanged()
                    : Reconciled.changed("block rewritten (" + written.plan().block().lines().size() + " line(s), "
                            + how(written.method()) + ")");
            return moved ? outcome.withRestartNeeded("the block stays in " + running.target() + " with sources from "
                    + running.configDirectory() + "; restart the agent to move it to " + next.settings().target()
                    + " with sources from " + next.settings().configDirectory()) : outcome;
        }

        /** Stops the loop and the watches, then removes the block. */
        @Override
        public void stop() throws IOException, ConfigException {
            loop.close();
            unwatch();
            writer.clean(settings.target());
        }

        /** Watches hosts.d once it exists (it may be created after start, or again); true when newly watched. */
        private boolean watchDropIns() {
            Path directory = settings.dropInDirectory();
            if (dropIns != null && fileEvents.watching(directory)) {
                return false;
            }
            if (dropIns != null) {
                dropIns.close();
                dropIns = null;
            }
            if (!Files.isDirectory(directory)) {
                return false;
            }
            try {
                dropIns = fileEvents.watch(directory, this::onEvents);
                dropInsUnwatchable = false;
                return true;
            } catch (IOException | IllegalStateException e) {
                if (!dropInsUnwatchable) {
                    LOG.warn("{}: cannot watch: {}; changes are picked up every {}", directory, e.getMessage(),
                            settings.checkInterval());
                    dropInsUnwatchable = true;
                }
                return false;
            }
        }

        private void unwatch() {
            registrations.forEach(FileEvents.Registration::close);
            registrations.clear();
            if (dropIns != null) {
                dropIns.close();
                dropIns = null;
            }
        }

        /** Logs problems when they differ from the last ones logged, so a broken source is reported once. */
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
                LOG.error("hosts sources are invalid; the istio-vm-agent block in {} is kept as it was",
                        settings.target());
            }
        }
    }
}
