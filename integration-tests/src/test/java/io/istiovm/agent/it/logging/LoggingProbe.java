package io.istiovm.agent.it.logging;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One JVM's measurement of whichever slf4j backend its class path holds (see {@link LoggingBackendBenchmark}):
 * classes loaded, metaspace and RSS grown, and time taken by the first log call (slf4j's start included), then the
 * cost of a log call. Writes {@code key value} lines to the file in args[0]; the log itself goes to stderr, which
 * the benchmark points at /dev/null.
 */
public final class LoggingProbe {
    private LoggingProbe() {
    }

    /** What a run measures, before and after the backend's start. */
    record Footprint(long classes, long metaspace, long rss) {
        static Footprint now() throws IOException {
            long metaspace = ManagementFactory.getMemoryPoolMXBeans().stream()
                    .filter(p -> p.getName().equals("Metaspace")).mapToLong(p -> p.getUsage().getUsed()).sum();
            long rss = 0;
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("\\D", "")) * 1024;
                }
            }
            return new Footprint(ManagementFactory.getClassLoadingMXBean().getTotalLoadedClassCount(), metaspace,
                    rss);
        }
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        int calls = Integer.parseInt(args[1]);
        // Load what the measurement itself needs before the baseline.
        Footprint.now();
        for (MemoryPoolMXBean ignored : ManagementFactory.getMemoryPoolMXBeans()) {
            ignored.getName();
        }
        Footprint before = Footprint.now();
        long start = System.nanoTime();
        Logger log = LoggerFactory.getLogger("io.istiovm.agent.ca.IdentityComponent");
        log.info("identity issued: {} until {}", "spiffe://cluster.local/ns/vm/sa/default", "2026-12-03T04:00:00Z");
        long first = System.nanoTime() - start;
        Footprint after = Footprint.now();
        StringBuilder report = new StringBuilder();
        report.append(String.format(Locale.ROOT, "first_line_ms %.1f%n", first / 1e6));
        report.append("classes ").append(after.classes() - before.classes()).append('\n');
        report.append("metaspace_kib ").append((after.metaspace() - before.metaspace()) / 1024).append('\n');
        report.append("rss_kib ").append((after.rss() - before.rss()) / 1024).append('\n');
        report.append(String.format(Locale.ROOT, "classic_ns %.0f%n", perCall(calls, i ->
                log.info("identity issued: {} until {}", "spiffe://cluster.local/ns/vm/sa/default", i))));
        report.append(String.format(Locale.ROOT, "fluent_kv_ns %.0f%n", perCall(calls, i ->
                log.atInfo().addKeyValue("CERT_SERIAL", i).addKeyValue("SPIFFE_ID", "spiffe://x")
                        .log("identity rotated"))));
        report.append(String.format(Locale.ROOT, "disabled_ns %.1f%n", perCall(calls * 10, i ->
                log.debug("not logged {}", i))));
        Files.writeString(out, report.toString());
    }

    interface Call {
        void run(int i);
    }

    /** Nanoseconds per call, after as many calls again to warm up. */
    static double perCall(int calls, Call call) {
        for (int i = 0; i < calls; i++) {
            call.run(i);
        }
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            call.run(i);
        }
        return (System.nanoTime() - start) / (double) calls;
    }
}
