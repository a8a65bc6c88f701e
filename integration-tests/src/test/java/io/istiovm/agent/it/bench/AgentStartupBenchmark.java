package io.istiovm.agent.it.bench;

import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.envoy.EnvoyBenchmark.Distribution;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.systemd.NotifySocket;
import io.istiovm.agent.testing.TestIdentities;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The packaged agent ({@code run}, started through the .deb's launcher as the unit starts it: its JVM flags and its
 * class-data archive) under a stand-in for systemd: from exec to the READY=1 datagram on $NOTIFY_SOCKET, with the
 * Envoy stand-in becoming LIVE as soon as it has its secrets (no gate, no fault), median of {@code runs} fresh
 * starts after the first (which trains the archive); then the last agent is left idle for one window, at
 * whose end its resident memory is read ({@code /proc/PID/status} VmRSS, RssAnon) and over which its CPU time is
 * counted (every thread's {@code /proc/PID/task/TID/schedstat}, with {@code /proc/PID/stat} utime + stime beside).
 * The agent runs with the shipped defaults except what points it
 * at the fixture (the fixture's short Envoy poll interval is put back to the default, which idle CPU depends on).
 *
 * <p>Each start is split where the agent hands over to Envoy: exec → the stand-in's script ran (a realtime stamp
 * the wrapper writes), → the stand-in said LIVE (its own log line, relayed by the agent, carries a realtime
 * instant), → READY=1. The middle part is the stand-in's JVM start and SDS, not the agent.
 */
final class AgentStartupBenchmark {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Pattern LIVE_LINE = Pattern.compile("\\[([0-9T:.\\-]+Z)\\]\\[\\d+\\]\\[info\\]\\[main\\] "
            + "all clusters initialized; epoch 0 is LIVE");

    private AgentStartupBenchmark() {
    }

    /**
     * One start: exec → READY=1, and where the time went (empty where a stamp could not be read): the stand-in's
     * runs before the launch (the agent's {@code --version} and {@code --hot-restart-version} probes, each a JVM
     * start of the stand-in where Envoy answers in milliseconds), exec → Envoy launched, exec → Envoy LIVE.
     */
    record Start(long readyNanos, OptionalLong probesNanos, OptionalLong envoyExecNanos, OptionalLong envoyLiveNanos) {
        /** The part that is the stand-in's, not the agent's: its probe runs and its launch → LIVE. */
        OptionalLong standInNanos() {
            if (probesNanos.isEmpty() || envoyExecNanos.isEmpty() || envoyLiveNanos.isEmpty()) {
                return OptionalLong.empty();
            }
            return OptionalLong.of(probesNanos.getAsLong() + envoyLiveNanos.getAsLong()
                    - envoyExecNanos.getAsLong());
        }

        /** exec → READY=1 less the stand-in's part: the agent's own start and its noticing LIVE. */
        OptionalLong agentNanos() {
            OptionalLong standIn = standInNanos();
            return standIn.isPresent() ? OptionalLong.of(readyNanos - standIn.getAsLong()) : OptionalLong.empty();
        }
    }

    /**
     * Resident memory (kB, from /proc/PID/status) and CPU over the idle window: in nanoseconds, the sum of every
     * thread's run time ({@code /proc/PID/task/TID/schedstat}, exact), and as a cross-check the process's utime +
     * stime ticks ({@code /proc/PID/stat}, 10 ms each, which also count threads that ended meanwhile).
     */
    record Idle(Duration window, long vmRssKb, long rssAnonKb, long cpuNanos, long cpuTicks, long elapsedNanos,
                int threads, Map<String, Long> nanosByThread) {
        Idle {
            Objects.requireNonNull(window, "window");
            nanosByThread = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(nanosByThread));
            if (vmRssKb <= 0 || rssAnonKb <= 0 || cpuNanos < 0 || cpuTicks < 0 || elapsedNanos <= 0) {
                throw new IllegalArgumentException("idle: rss=" + vmRssKb + " anon=" + rssAnonKb + " cpu="
                        + cpuNanos + " ns, " + cpuTicks + " ticks, elapsed=" + elapsedNanos);
            }
        }

        /** CPU time over the window as a percentage of one core. */
        double cpuPercentOfOneCore() {
            return 100.0 * cpuNanos / elapsedNanos;
        }
    }

    record Result(Start first, List<Start> starts, Distribution ready, Idle idle, List<String> jvmFlags,
                  String pollInterval) {
        Result {
            starts = List.copyOf(starts);
            jvmFlags = List.copyOf(jvmFlags);
        }

        /** Median of a part of the starts, over those that have it. */
        OptionalLong median(java.util.function.Function<Start, OptionalLong> part) {
            List<Long> values = starts.stream().map(part).filter(OptionalLong::isPresent)
                    .map(OptionalLong::getAsLong).sorted().toList();
            return values.isEmpty() ? OptionalLong.empty() : OptionalLong.of(values.get((values.size() - 1) / 2));
        }
    }

    /**
     * A first start, as the unit's first after install (it trains the launcher's class-data archive, written when
     * that JVM exits), the launcher's check of the archive (its next run), then {@code runs} measured starts that
     * map it, the last one left idle for {@code idleWindow}.
     */
    static Result measure(int runs, Duration idleWindow) throws Exception {
        Path state = Files.createTempDirectory(Path.of("/tmp"), "x-bench-state",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            Measured first = startOnce(state, "first start (trains the class-data archive)", Optional.empty());
            Path log = Files.createTempFile(state, "version", ".log");
            try (AgentProcess check = AgentProcess.startThroughLauncher(state, log, Map.of(), "--version")) {
                if (check.waitFor(WAIT) != 0) {
                    throw new IllegalStateException("the launcher's --version failed: " + check.logText());
                }
            }
            List<Start> starts = new ArrayList<>();
            Measured last = null;
            for (int i = 0; i < runs; i++) {
                last = startOnce(state, "run " + (i + 1) + "/" + runs,
                        i == runs - 1 ? Optional.of(idleWindow) : Optional.empty());
                starts.add(last.start());
            }
            Distribution ready = Distribution.of(starts.stream().map(Start::readyNanos).toList());
            return new Result(first.start(), starts, ready, last.idle().orElseThrow(), last.jvmFlags(), POLL);
        } finally {
            try (var files = Files.list(state)) {
                for (Path file : files.toList()) {
                    Files.deleteIfExists(file);
                }
            }
            Files.deleteIfExists(state);
        }
    }

    /** One start, its JVM's flags as the launcher chose them, and the idle window when one was asked for. */
    private record Measured(Start start, List<String> jvmFlags, Optional<Idle> idle) {
    }

    /** The shipped default of VM_AGENT_ENVOY_POLL_INTERVAL, which the fixture shortens. */
    private static final String POLL =
            ((ConfigKey.Default.Literal) ConfigKeys.VM_AGENT_ENVOY_POLL_INTERVAL.defaultValue()).value();

    private static Measured startOnce(Path state, String what, Optional<Duration> idleWindow) throws Exception {
        try (EnvoyStandInFixture standIn = new EnvoyStandInFixture();
             NotifySocket systemd = NotifySocket.path()) {
            TestIdentities.writeFiles(new TestIdentities().issue("bar", "httpbin"), standIn.certsDir());
            Path configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
            Path stamp = standIn.shmDir().resolve("exec-stamp");
            Path probes = standIn.shmDir().resolve("probe-stamps");
            Path envoy = stampingEnvoy(standIn, stamp, probes);
            Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv(
                    "VM_AGENT_ENVOY_BINARY=" + envoy, "VM_AGENT_ENVOY_POLL_INTERVAL=" + POLL,
                    // The stand-in's "epoch 0 is LIVE" line is at info: relayed, it dates the LIVE moment.
                    "VM_AGENT_ENVOY_LOG_LEVEL=info"));
            Path log = standIn.dir().resolve("agent.log");
            Instant execAt = Instant.now();
            long begin = System.nanoTime();
            try (AgentProcess agent = AgentProcess.startThroughLauncher(state, log,
                    Map.of("NOTIFY_SOCKET", systemd.env()), "run", "--config-dir", configDir.toString())) {
                awaitReady(systemd, agent);
                long ready = System.nanoTime() - begin;
                Start start = new Start(ready, probeNanos(probes), execStamp(stamp).stream()
                        .mapToLong(at -> Duration.between(execAt, at).toNanos()).findFirst(),
                        liveInstant(agent.logText()).stream()
                                .mapToLong(at -> Duration.between(execAt, at).toNanos()).findFirst());
                List<String> flags = agent.jvmFlags();
                System.out.printf(Locale.ROOT, "agent exec -> READY=1  %s: %.0f ms (stand-in probes %s ms, Envoy exec"
                                + " at %s ms, LIVE at %s ms; agent's own %s ms)%n  JVM: %s%n", what, ready / 1e6,
                        millis(start.probesNanos()), millis(start.envoyExecNanos()), millis(start.envoyLiveNanos()),
                        millis(start.agentNanos()), String.join(" ", flags));
                Optional<Idle> idle = Optional.empty();
                if (idleWindow.isPresent()) {
                    idle = Optional.of(idle(agent.pid(), idleWindow.get()));
                }
                agent.terminate();
                agent.waitFor(WAIT);
                return new Measured(start, flags, idle);
            }
        }
    }

    private static String millis(OptionalLong nanos) {
        return nanos.isPresent() ? String.format(Locale.ROOT, "%.0f", nanos.getAsLong() / 1e6) : "?";
    }

    private static void awaitReady(NotifySocket systemd, AgentProcess agent) throws IOException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() - deadline < 0) {
            Optional<String> datagram = systemd.receive(Duration.ofMillis(100));
            if (datagram.isPresent() && datagram.get().lines().anyMatch("READY=1"::equals)) {
                return;
            }
            if (!agent.isAlive()) {
                throw new IllegalStateException("the agent exited before READY=1; log:\n" + agent.logText());
            }
        }
        throw new IllegalStateException("no READY=1 within " + WAIT + "; log:\n" + agent.logText());
    }

    /**
     * A wrapper for the stand-in's binary: the launch (the command line with {@code --restart-epoch}) writes the
     * realtime clock (ns) and execs the stand-in, which is where the agent's own start ends and Envoy's begins;
     * any other run (the agent's version probes) is timed, start and end, into {@code probes}.
     */
    private static Path stampingEnvoy(EnvoyStandInFixture standIn, Path stamp, Path probes) throws IOException {
        Path wrapper = standIn.dir().resolve("bin/stamping-envoy");
        Files.writeString(wrapper, "#!/bin/sh\n"
                + "# Times the Envoy stand-in, which stands in for Istio's proxy build (it registers\n"
                + "# io.istio.http.peer_metadata and istio.metadata_exchange: the agent looks for those names).\n"
                + "case \"$*\" in\n"
                + "*--restart-epoch*)\n"
                + "  [ -e '" + stamp + "' ] || date +%s%N > '" + stamp + "'\n"
                + "  exec '" + standIn.binary() + "' \"$@\" ;;\n"
                + "esac\n"
                + "begin=$(date +%s%N)\n"
                + "rc=0; '" + standIn.binary() + "' \"$@\" || rc=$?\n"
                + "echo \"$begin $(date +%s%N)\" >> '" + probes + "'\n"
                + "exit $rc\n");
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
        return wrapper;
    }

    /** The summed durations of the stand-in's probe runs. */
    private static OptionalLong probeNanos(Path probes) {
        try {
            long sum = 0;
            for (String line : Files.readAllLines(probes, StandardCharsets.US_ASCII)) {
                String[] both = line.strip().split(" ");
                sum += Long.parseLong(both[1]) - Long.parseLong(both[0]);
            }
            return OptionalLong.of(sum);
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    private static Optional<Instant> execStamp(Path stamp) {
        try {
            long nanos = Long.parseLong(Files.readString(stamp, StandardCharsets.US_ASCII).strip());
            return Optional.of(Instant.ofEpochSecond(0, nanos));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** The instant in the stand-in's "epoch 0 is LIVE" line (its stderr, relayed into the agent's log). */
    static Optional<Instant> liveInstant(String agentLog) {
        Matcher m = LIVE_LINE.matcher(agentLog);
        return m.find() ? Optional.of(Instant.parse(m.group(1))) : Optional.empty();
    }

    /** One idle window on a running agent: CPU over it, memory at its end. */
    private static Idle idle(long pid, Duration window) throws IOException, InterruptedException {
        System.out.printf(Locale.ROOT, "agent idle: one %d s window on pid %d ...%n", window.toSeconds(), pid);
        long ticksBefore = cpuTicks(pid);
        Map<String, Long> threadsBefore = threadNanos(pid);
        long begin = System.nanoTime();
        // The window is the measurement itself: nothing to wait for but time.
        Thread.sleep(window.toMillis());
        long ticksAfter = cpuTicks(pid);
        Map<String, Long> threadsAfter = threadNanos(pid);
        long elapsed = System.nanoTime() - begin;
        Map<String, Long> busiest = busiest(threadsBefore, threadsAfter);
        long nanos = busiest.values().stream().mapToLong(Long::longValue).sum();
        Map<String, Long> status = status(pid);
        int threads = Math.toIntExact(status.getOrDefault("Threads", 0L));
        Idle idle = new Idle(window, status.get("VmRSS"), status.get("RssAnon"), nanos, ticksAfter - ticksBefore,
                elapsed, threads, busiest);
        System.out.printf(Locale.ROOT, "agent idle %d s: VmRSS %.1f MiB, RssAnon %.1f MiB, %d threads, CPU %.1f ms"
                        + " (%d ticks) = %.3f %% of one core; by thread (ns): %s%n", window.toSeconds(),
                idle.vmRssKb() / 1024.0, idle.rssAnonKb() / 1024.0, threads, nanos / 1e6, idle.cpuTicks(),
                idle.cpuPercentOfOneCore(), busiest);
        return idle;
    }

    /** utime + stime (fields 14 and 15 of /proc/PID/stat, counted after the parenthesised comm). */
    static long cpuTicks(String stat) {
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }

    /** Each thread's run time in ns (the first field of /proc/PID/task/TID/schedstat), keyed "name/TID". */
    private static Map<String, Long> threadNanos(long pid) throws IOException {
        Map<String, Long> nanos = new java.util.HashMap<>();
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                try {
                    String stat = Files.readString(task.resolve("stat"), StandardCharsets.US_ASCII);
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    nanos.put(name + "/" + task.getFileName(),
                            schedstatNanos(Files.readString(task.resolve("schedstat"), StandardCharsets.US_ASCII)));
                } catch (java.nio.file.NoSuchFileException e) {
                    // the thread ended while we looked
                }
            }
        }
        return nanos;
    }

    /** The time on the CPU, in ns: the first of schedstat's three fields (run time, wait time, timeslices). */
    static long schedstatNanos(String schedstat) {
        return Long.parseLong(schedstat.strip().split(" ")[0]);
    }

    /** The threads that used CPU between the two readings, busiest first, by name (threads of one name summed). */
    static Map<String, Long> busiest(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> byName = new java.util.HashMap<>();
        after.forEach((key, ticks) -> {
            long used = ticks - before.getOrDefault(key, 0L);
            if (used > 0) {
                byName.merge(key.substring(0, key.lastIndexOf('/')), used, Long::sum);
            }
        });
        Map<String, Long> sorted = new java.util.LinkedHashMap<>();
        byName.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()
                .thenComparing(Map.Entry.comparingByKey())).forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    private static long cpuTicks(long pid) throws IOException {
        return cpuTicks(Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII));
    }

    /** The numeric fields of /proc/PID/status ("VmRSS:  1234 kB" → VmRSS=1234). */
    static Map<String, Long> status(String text) {
        Map<String, Long> values = new java.util.HashMap<>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String[] words = line.substring(colon + 1).strip().split("\\s+");
            if (words.length >= 1 && words[0].matches("\\d+")) {
                values.put(line.substring(0, colon), Long.parseLong(words[0]));
            }
        }
        return values;
    }

    private static Map<String, Long> status(long pid) throws IOException {
        return status(Files.readString(Path.of("/proc", Long.toString(pid), "status"), StandardCharsets.US_ASCII));
    }
}
