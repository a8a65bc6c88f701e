package io.istiovm.agent.hosts;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Loops;
import io.istiovm.agent.lifecycle.Running;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Latency from a change of a hosts.d source to the rewritten hosts file, with the real watcher, writer and file
 * system, in a scratch directory. Each change is timed from just before the source is replaced to the first read
 * of the hosts file that shows it (the file is read every 0.2 ms). Includes the watcher's quiet period. Runs the
 * component on the agent's own loops and file events, as the daemon does.
 */
public final class HostsLatencyBenchmark {
    private HostsLatencyBenchmark() {
    }

    /** What {@link #run} measured over {@code changes} changes, the watcher's quiet period included. */
    public record Result(int changes, Duration quietPeriod, long p50Nanos, long p99Nanos, long minNanos,
                         long maxNanos) {
        public Result {
            if (changes <= 0 || minNanos < 0 || p50Nanos < minNanos || p99Nanos < p50Nanos || maxNanos < p99Nanos) {
                throw new IllegalArgumentException("not a latency distribution: n=" + changes + " min=" + minNanos
                        + " p50=" + p50Nanos + " p99=" + p99Nanos + " max=" + maxNanos);
            }
            Objects.requireNonNull(quietPeriod, "quietPeriod");
        }
    }

    /** Measures, prints one line, and returns the numbers. */
    public static Result run(int changes, Loops loops, FileEvents fileEvents, PrintWriter out) throws Exception {
        Path scratch = Files.createTempDirectory("istio-vm-agent-hosts-bench");
        try {
            Path configDirectory = Files.createDirectories(scratch.resolve("config"));
            Path dropIns = Files.createDirectories(configDirectory.resolve("hosts.d"));
            Path target = Files.createDirectories(scratch.resolve("etc")).resolve("hosts");
            Files.writeString(target, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n");
            HostsComponent component = new HostsComponent(HostsSettings.sourcesOnly(configDirectory, target,
                    Duration.ofHours(1)), fileEvents);
            Running running = component.prepare().start(ComponentContext.of(component.name(), loops,
                    new AgentState(loops.clock())));
            long[] nanos = new long[changes];
            try {
                for (int i = 0; i < changes; i++) {
                    String name = "bench-" + i + ".global";
                    byte[] source = ("127.255.1." + (i % 250 + 1) + " " + name + "\n")
                            .getBytes(StandardCharsets.UTF_8);
                    Path temporary = dropIns.resolve(".bench.tmp");
                    Files.write(temporary, source);
                    long start = System.nanoTime();
                    Files.move(temporary, dropIns.resolve("bench.hosts"),
                            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                    long deadline = start + TimeUnit.SECONDS.toNanos(10);
                    while (!Files.readString(target, StandardCharsets.ISO_8859_1).contains(" " + name + " ")) {
                        if (System.nanoTime() > deadline) {
                            throw new IllegalStateException("change " + i + " did not reach " + target + " in 10 s");
                        }
                        LockSupport.parkNanos(200_000);
                    }
                    nanos[i] = System.nanoTime() - start;
                }
            } finally {
                running.stop();
            }
            Arrays.sort(nanos);
            out.printf(Locale.ROOT, "hosts latency, source change -> new hosts file, %d changes "
                            + "(quiet period %d ms included): p50 %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms%n",
                    changes, HostsComponent.QUIET.toMillis(), millis(percentile(nanos, 50)),
                    millis(percentile(nanos, 99)), millis(nanos[0]), millis(nanos[changes - 1]));
            return new Result(changes, HostsComponent.QUIET, percentile(nanos, 50), percentile(nanos, 99), nanos[0],
                    nanos[changes - 1]);
        } finally {
            deleteTree(scratch);
        }
    }

    private static long percentile(long[] sorted, int percent) {
        int index = (int) Math.ceil(percent / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    private static double millis(long nanos) {
        return nanos / 1_000_000.0;
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
