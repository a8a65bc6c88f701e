package io.istiovm.agent.it.bench;

import static io.istiovm.agent.it.bench.Figure.Comparator.AT_LEAST;
import static io.istiovm.agent.it.bench.Figure.Comparator.AT_MOST;

import io.istiovm.agent.ca.FleetRotationBenchmark;
import io.istiovm.agent.cli.Benchmarks;
import io.istiovm.agent.cli.CliEnvironment;
import io.istiovm.agent.hosts.HostsLatencyBenchmark;
import io.istiovm.agent.it.envoy.EnvoyBenchmark;
import io.istiovm.agent.netfilter.CaptureBenchmark;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * Every figure of issue 14's "Benchmarks" in one run, each beside its baseline where there is one, written to
 * {@code <out>/benchmarks.md} and {@code <out>/benchmarks.json}. The parts are the existing benchmarks, called
 * for their numbers ({@link Benchmarks#capture}, {@link Benchmarks#hosts}, {@link EnvoyBenchmark#measure}), and
 * {@link AgentStartupBenchmark} (exec → READY=1, idle memory and CPU of the packaged agent). A part that fails is
 * reported as not measured, with the reason, and the suite exits 1 after writing the files.
 *
 * <p>Run as root (network namespaces, Envoy's uid) by {@code sudo ./istio-vm-agent benchmark}, which builds what
 * is needed and passes {@code --out docs}; {@code --quick} takes fewer samples and a 10 s idle window (to try
 * the suite, not to publish); {@code --only PART} runs one part (to work on it; the files then hold that part only).
 */
public final class BenchmarkSuite {
    static final String COMMAND = "sudo ./istio-vm-agent benchmark";
    /** The seed FleetRotationBenchmark's main plots docs/benchmarks/fleet-rotation.png with. */
    private static final long FLEET_SEED = 1;
    private static final String USAGE = "usage: BenchmarkSuite --out DIR [--readme README.md] [--quick] "
            + "[--only startup|iptables|envoy|hosts|fleet]";

    private final List<Figure> figures = new ArrayList<>();
    private final List<BenchmarkReport.Plot> plots = new ArrayList<>();
    private final String only;
    private boolean failed;

    private BenchmarkSuite(String only) {
        this.only = only;
    }

    public static void main(String[] args) throws Exception {
        // The fleet simulation's Rotators log every schedule at info: thousands of lines. Read by the agent's
        // logging backend when slf4j starts, which is after this line (no logger exists yet).
        if (System.getProperty("istiovm.log.level") == null) {
            System.setProperty("istiovm.log.level", "info,io.istiovm.agent.ca.Rotator=off");
        }
        Path out = null;
        Path readme = null;
        boolean quick = false;
        String only = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--readme" -> readme = Path.of(args[++i]);
                case "--quick" -> quick = true;
                case "--only" -> only = args[++i];
                default -> {
                    System.err.println(USAGE);
                    System.exit(2);
                }
            }
        }
        if (out == null) {
            System.err.println(USAGE);
            System.exit(2);
        }
        System.exit(new BenchmarkSuite(only).run(out, readme, quick));
    }

    /** {@code readme}: also README's summary block (a full run only: a quick or partial one is not the record). */
    private int run(Path out, Path readme, boolean quick) throws Exception {
        Machine machine = Machine.current();
        long begin = System.nanoTime();
        System.out.printf("benchmark suite on %s (%d cores), load %s%n", machine.cpuModel(), machine.cores(),
                machine.loadAtStart());
        CliEnvironment env = CliEnvironment.system();
        part("startup", "agent exec -> READY=1, idle RSS and CPU", () -> startup(quick ? 3 : 5,
                Duration.ofSeconds(quick ? 10 : 60)), List.of(
                Figure.notMeasured("agent exec → READY=1", "s", 0.5, AT_MOST, "the part failed"),
                Figure.notMeasured("idle RSS (VmRSS)", "MiB", 50.0, AT_MOST, "the part failed"),
                Figure.notMeasured("idle CPU", "% of one core", 0.1, AT_MOST, "the part failed")));
        part("iptables", "iptables apply", () -> capture(Benchmarks.capture(env, quick ? 3 : 5)), List.of(
                Figure.notMeasured("iptables apply, guide's configuration, with verification", "ms", 15.0, AT_MOST,
                        "the part failed"),
                Figure.notMeasured("iptables, 1000 ports / 200 CIDRs: per-rule baseline ÷ agent", "×", 20.0,
                        AT_LEAST, "the part failed")));
        part("envoy", "SDS push and Envoy crash", () -> envoy(EnvoyBenchmark.measure(quick ? 20 : 100, quick ? 5 : 20)),
                List.of(Figure.notMeasured("identity → Envoy (SDS push) p99", "ms", 100.0, AT_MOST,
                                "the part failed"),
                        Figure.notMeasured("dropped connections during the rotations", "connections", 0.0, AT_MOST,
                                "the part failed"),
                        Figure.notMeasured("Envoy SIGKILL → new Envoy started, p99", "s", 0.5, AT_MOST,
                                "the part failed")));
        part("hosts", "hosts", () -> hosts(Benchmarks.hosts(env, quick ? 30 : 100)), List.of(Figure.notMeasured(
                "hosts source change → /etc/hosts p99", "ms", 200.0, AT_MOST, "the part failed")));
        part("fleet", "fleet rotation (simulated)", () -> fleet(quick), List.of(Figure.notMeasured(
                "fleet of 1000, mass reboot: busiest 1 s of rotations, share of the fleet", "%", 5.0, AT_MOST,
                "the part failed")));
        Duration took = Duration.ofNanos(System.nanoTime() - begin);
        BenchmarkReport report = new BenchmarkReport(COMMAND, machine, took, figures, plots);
        if (readme != null && !quick && only == null) {
            report.write(out, readme);
        } else {
            report.write(out);
        }
        System.out.println();
        System.out.print(report.markdown());
        System.out.printf("%nwrote %s and %s in %s (%s)%n", out.resolve(BenchmarkReport.MARKDOWN),
                out.resolve(BenchmarkReport.JSON), BenchmarkReport.duration(took), quick ? "quick" : "full");
        return failed ? 1 : 0;
    }

    @FunctionalInterface
    private interface Part {
        void run() throws Exception;
    }

    /** Runs one part; when it fails, its figures are "not measured" with the failure, and the suite goes on. */
    private void part(String id, String name, Part part, List<Figure> onFailure) {
        if (only != null && !only.equals(id)) {
            return;
        }
        System.out.println();
        System.out.println("== " + name);
        int before = figures.size();
        try {
            part.run();
        } catch (Exception | AssertionError e) {
            failed = true;
            e.printStackTrace(System.out);
            figures.subList(before, figures.size()).clear();
            String reason = "failed: " + String.valueOf(e).lines().findFirst().orElse("?");
            for (Figure f : onFailure) {
                figures.add(Figure.notMeasured(f.name(), f.unit(), f.goal(), f.comparator(), reason));
            }
        }
    }

    private void startup(int runs, Duration window) throws Exception {
        AgentStartupBenchmark.Result r = AgentStartupBenchmark.measure(runs, window);
        double ready = r.ready().p50Nanos() / 1e9;
        OptionalLong agent = r.median(AgentStartupBenchmark.Start::agentNanos);
        OptionalLong standIn = r.median(AgentStartupBenchmark.Start::standInNanos);
        figures.add(Figure.measured("agent exec → READY=1", ready, "s", 0.5, AT_MOST,
                "median of " + r.ready().n() + " fresh starts of the packaged jar through deb/launcher (JVM: "
                        + String.join(" ", readable(r.jvmFlags())) + "), READY=1 read on $NOTIFY_SOCKET; stand-in"
                        + " LIVE as soon as SDS gives it the secrets; VM_AGENT_ENVOY_POLL_INTERVAL " + r.pollInterval()
                        + " (default)",
                "The Envoy stand-in is a JVM (its two probes and its start are "
                        + (standIn.isPresent() ? seconds(standIn.getAsLong()) : "?")
                        + " of this), where a real Envoy answers --version in milliseconds; the agent's own part ("
                        + (agent.isPresent() ? seconds(agent.getAsLong()) : "?") + ") must shrink too: start Envoy"
                        + " before the other components are up (its start overlaps theirs), load at start only what"
                        + " the start uses (Envoy's protos, BouncyCastle), and a JVM start lighter than the current"
                        + " one."));
        figures.add(Figure.info("… first start after install (the launcher trains its class-data archive)",
                r.first().readyNanos() / 1e9, "s", "one start before the measured ones, with an empty state"
                        + " directory: no archive mapped (the JVM writes one at exit)"));
        if (agent.isPresent()) {
            figures.add(Figure.info("… of which the agent's own (start, launch, noticing LIVE)",
                    agent.getAsLong() / 1e9, "s", "median: exec → READY=1 less the stand-in's probe runs and its"
                            + " launch → LIVE (realtime stamps from a wrapper and from the stand-in's log line)"));
        }
        if (standIn.isPresent()) {
            figures.add(Figure.info(
                    "… of which the Envoy stand-in's (--version, --hot-restart-version, launch → LIVE)",
                    standIn.getAsLong() / 1e9, "s", "median; JVM starts of the stand-in, which a real Envoy"
                            + " does not have"));
        }
        AgentStartupBenchmark.Idle idle = r.idle();
        String idleFor = idle.window().toSeconds() + " s";
        figures.add(Figure.measured("idle RSS (VmRSS)", idle.vmRssKb() / 1024.0, "MiB", 50.0, AT_MOST,
                "/proc/PID/status of the last started agent, READY and then idle for " + idleFor + "; "
                        + idle.threads() + " threads",
                "Find where the rest goes (NMT: heap, metaspace, code cache, thread stacks) and load lazily what"
                        + " idle does not use (Envoy's proto descriptors, BouncyCastle until a rotation, gRPC/netty"
                        + " only while talking to the CA), fewer threads, pools sized to need."));
        figures.add(Figure.info("idle RSS, anonymous part (RssAnon)", idle.rssAnonKb() / 1024.0, "MiB",
                "same reading; the heap, metaspace, thread stacks and code cache; the rest is mapped files"));
        figures.add(Figure.measured("idle CPU", idle.cpuPercentOfOneCore(), "% of one core", 0.1, AT_MOST,
                "every thread's run time (/proc/PID/task/TID/schedstat) over the same " + idleFor + " window: "
                        + Figure.number(idle.cpuNanos() / 1e6) + " ms in " + Figure.number(idle.elapsedNanos() / 1e9)
                        + " s (utime + stime of /proc/PID/stat: " + idle.cpuTicks() + " ticks of 10 ms); by thread, ms: "
                        + (idle.nanosByThread().isEmpty() ? "none"
                        : idle.nanosByThread().entrySet().stream()
                        .map(e -> e.getKey() + " " + Figure.number(e.getValue() / 1e6))
                        .collect(java.util.stream.Collectors.joining(", "))),
                "Find what still wakes up (per-thread utime in /proc/PID/task: the loops' idle check-ins, verify"
                        + " timers, the watchdog, pool housekeeping) and make each event-driven where the kernel can"
                        + " tell (inotify, netlink, pidfd) and long-interval where not."));
    }

    private void capture(CaptureBenchmark.Result r) {
        CaptureBenchmark.Case seed = r.byName(CaptureBenchmark.Result.SEED);
        CaptureBenchmark.Case large = r.byName(CaptureBenchmark.Result.LARGE);
        String how = "median of " + r.runs() + " in a scratch network namespace, backend " + r.backend();
        figures.add(Figure.measured("iptables apply, guide's configuration, with verification",
                seed.agentApplyNanos() / 1e6, "ms", 15.0, AT_MOST, how + "; " + seed.rulesAndChains()
                        + " rules+chains, iptables-save, restore (one table: no --test run), verify",
                "Fewer processes per family: no save before the restore (start from what the agent last wrote and"
                        + " read back; the save after it still checks), or netlink (nftables) directly; Istio 1.5's"
                        + " single restore took 4 ms."));
        figures.add(Figure.info("… baseline: one iptables process per rule, guide's configuration",
                seed.perRuleNanos() / 1e6, "ms", "median of up to 3, as istio-iptables.sh 1.4 / Consul do"));
        figures.add(Figure.measured("iptables, 1000 ports / 200 CIDRs: per-rule baseline ÷ agent", large.ratio(), "×",
                20.0, AT_LEAST, large.rulesAndChains() + " rules+chains; agent "
                        + Figure.format(large.agentApplyNanos() / 1e6, "ms") + ", baseline "
                        + Figure.format(large.perRuleNanos() / 1e6, "ms"),
                "Keep the apply one transaction whatever the size."));
        figures.add(Figure.info("… agent apply, 1000 ports / 200 CIDRs", large.agentApplyNanos() / 1e6, "ms", how));
        figures.add(Figure.info("… baseline: one process per rule, 1000 ports / 200 CIDRs",
                large.perRuleNanos() / 1e6, "ms", "median of up to 3"));
    }

    private void envoy(EnvoyBenchmark.Result r) {
        figures.add(Figure.info("identity → Envoy (SDS push) p50", r.sdsPush().p50Nanos() / 1e6, "ms",
                "n=" + r.sdsPush().n() + ": identity published → the stand-in's /certs shows its serial"));
        figures.add(Figure.measured("identity → Envoy (SDS push) p99", r.sdsPush().p99Nanos() / 1e6, "ms", 100.0,
                AT_MOST, "n=" + r.sdsPush().n() + ", max " + Figure.format(r.sdsPush().maxNanos() / 1e6, "ms")
                        + "; includes the benchmark's own polling of /certs over HTTP every 10 ms",
                "Push to Envoy on the identity's change without a poll in between, and a cheaper confirmation than"
                        + " the 10 ms /certs poll when measuring."));
        EnvoyBenchmark.HeldConnections held = r.duringRotations();
        figures.add(Figure.measured("dropped connections during the rotations", held.dropped(), "connections", 0.0,
                AT_MOST, held.held() + " connections held through the stand-in's outbound listener, " + held.probes()
                        + " echo probes, one after each rotation (plain TCP: the stand-in does not terminate TLS)",
                "Find what closes the connections: an SDS update must never restart the listener."));
        figures.add(Figure.info("Envoy SIGKILL → new Envoy started, p50", r.crashToStarted().p50Nanos() / 1e9, "s",
                "n=" + r.crashToStarted().n() + ", the supervisor's first restart (no backoff)"));
        figures.add(Figure.measured("Envoy SIGKILL → new Envoy started, p99", r.crashToStarted().p99Nanos() / 1e9,
                "s", 0.5, AT_MOST, "n=" + r.crashToStarted().n() + ", max "
                        + Figure.format(r.crashToStarted().maxNanos() / 1e9, "s"),
                "React to the child's exit (pidfd/SIGCHLD) instead of the poll, and skip the restart backoff for a"
                        + " first crash."));
        figures.add(Figure.info("… Envoy SIGKILL → new Envoy LIVE, p50", r.crashToLive().p50Nanos() / 1e9, "s",
                "includes the stand-in's JVM start and SDS"));
    }

    private void hosts(HostsLatencyBenchmark.Result r) {
        figures.add(Figure.measured("hosts source change → /etc/hosts p99", r.p99Nanos() / 1e6, "ms", 200.0, AT_MOST,
                "n=" + r.changes() + " in a scratch directory with the real watcher and writer; p50 "
                        + Figure.format(r.p50Nanos() / 1e6, "ms") + ", quiet period " + r.quietPeriod().toMillis()
                        + " ms included",
                "Shorter quiet period, or write on the first event and coalesce only bursts."));
    }

    /**
     * The fleet simulation (agent-core {@link FleetRotationBenchmark}): its scenarios with the policy's jitter and,
     * as the baseline, without. Deterministic for its seed, the one its main plots into the linked PNG.
     */
    private void fleet(boolean quick) {
        int agents = quick ? 200 : 1000;
        for (FleetRotationBenchmark.FleetScenario scenario : FleetRotationBenchmark.scenarios(agents, FLEET_SEED)) {
            FleetRotationBenchmark.FleetResult jitter = FleetRotationBenchmark.run(scenario);
            FleetRotationBenchmark.FleetResult flat = FleetRotationBenchmark.run(scenario.withoutJitter());
            String what = "fleet of " + agents + switch (scenario.start()) {
                case ENROL_AT_BOOT -> scenario.caCapacity() == 0 ? ", mass reboot" : ", mass reboot, CA serving "
                        + scenario.caCapacity() + "/s";
                case ONE_IMAGE -> " from one image";
            };
            String how = "booting within 1 s, TTL " + scenario.ttl().toHours() + " h, "
                    + scenario.lifetimes() + " lifetimes, the agent's Rotator and RotationPolicy (jitter ± "
                    + jitter.jitter() + ") in simulated time, seed " + FLEET_SEED;
            System.out.printf(Locale.ROOT, "%-40s jitter: rotation peak %d/s (%.1f %%), all requests peak %d/s;"
                            + " without: %d/s (%.1f %%)%n", what, jitter.rotationPeak(),
                    100 * jitter.rotationPeakShare(), jitter.peak(), flat.rotationPeak(),
                    100 * flat.rotationPeakShare());
            figures.add(Figure.measured(what + ": busiest 1 s of rotations, share of the fleet",
                    100 * jitter.rotationPeakShare(), "%", 100 * FleetRotationBenchmark.GOAL_SHARE, AT_MOST,
                    how + "; " + jitter.rotationPeak() + " CA requests in the busiest sliding second",
                    "Widen the rotation jitter (the grace ratio's spread) until a lifetime's rotations spread over"
                            + " 20 s or more."));
            figures.add(Figure.info("… " + what + ", peak CA requests/s (rotations, with jitter)",
                    jitter.rotationPeak(), "requests/s", "all requests, the boot enrolment included: "
                            + jitter.peak() + "/s; " + jitter.refused() + " refused"));
            figures.add(Figure.info("… baseline without jitter: " + what + ", busiest 1 s share",
                    100 * flat.rotationPeakShare(), "%", flat.rotationPeak() + " CA requests/s in the busiest"
                            + " second of rotations; the same fleet with the policy's jitter forced to zero"));
        }
        plots.add(new BenchmarkReport.Plot("Fleet mass reboot: CA requests per second, jitter vs no jitter",
                "benchmarks/fleet-rotation.png"));
    }

    /** The JVM's words, with the launcher's archive named rather than its scratch path. */
    private static List<String> readable(List<String> flags) {
        return flags.stream().map(f -> f.startsWith("-XX:SharedArchiveFile=")
                ? "-XX:SharedArchiveFile=<the launcher's archive>" : f).toList();
    }

    private static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.2f s", nanos / 1e9);
    }
}
