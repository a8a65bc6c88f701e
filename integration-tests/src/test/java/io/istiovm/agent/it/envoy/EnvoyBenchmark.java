package io.istiovm.agent.it.envoy;

import io.istiovm.agent.envoy.EnvoySupervision;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Two measurements with the stand-in, printed, never asserted (see README, "Envoy"):
 * <ol>
 *   <li>identity available (published to SDS) → the stand-in holds it (its {@code /certs} shows the serial),
 *       over 100 rotations; meanwhile {@value #HELD} connections held through the stand-in's outbound capture
 *       listener are each probed (one echoed line) after every rotation, and those that fail count as dropped;</li>
 *   <li>Envoy SIGKILLed → a new Envoy process started by the supervisor (a first restart, no backoff), and →
 *       that Envoy LIVE, over 20 crashes.</li>
 * </ol>
 * Run as root: {@code java -cp <test classpath> io.istiovm.agent.it.envoy.EnvoyBenchmark [rotations] [crashes]};
 * the benchmark suite ({@code it.bench.BenchmarkSuite}) calls {@link #measure} for the same numbers.
 */
public final class EnvoyBenchmark {
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** Connections held through the stand-in during the rotations. */
    static final int HELD = 8;

    private EnvoyBenchmark() {
    }

    /** A latency distribution: sample count, p50, p99 and maximum (nearest-rank percentiles). */
    public record Distribution(int n, long p50Nanos, long p99Nanos, long maxNanos) {
        public Distribution {
            if (n <= 0 || p50Nanos < 0 || p99Nanos < p50Nanos || maxNanos < p99Nanos) {
                throw new IllegalArgumentException("not a distribution: n=" + n + " p50=" + p50Nanos + " p99="
                        + p99Nanos + " max=" + maxNanos);
            }
        }

        public static Distribution of(List<Long> nanos) {
            List<Long> sorted = new ArrayList<>(nanos);
            Collections.sort(sorted);
            return new Distribution(sorted.size(), percentile(sorted, 50), percentile(sorted, 99),
                    sorted.get(sorted.size() - 1));
        }

        private static long percentile(List<Long> sorted, int p) {
            int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
            return sorted.get(Math.max(0, index));
        }
    }

    /** Connections held through the stand-in while the identity rotated: how many, probes sent, how many died. */
    public record HeldConnections(int held, int probes, int dropped) {
        public HeldConnections {
            if (held <= 0 || probes < 0 || dropped < 0 || dropped > held) {
                throw new IllegalArgumentException("held=" + held + " probes=" + probes + " dropped=" + dropped);
            }
        }
    }

    /** What {@link #measure} measured. */
    public record Result(Distribution sdsPush, HeldConnections duringRotations, Distribution crashToStarted,
                         Distribution crashToLive) {
    }

    public static void main(String[] args) throws Exception {
        int rotations = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int crashes = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        measure(rotations, crashes);
    }

    /** Measures, prints the table, and returns the numbers. */
    public static Result measure(int rotations, int crashes) throws Exception {
        try (EnvoyStandInFixture standIn = new EnvoyStandInFixture();
             SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_POLL_INTERVAL=10ms",
                     "VM_AGENT_ENVOY_STABLE_PERIOD=1ms").start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("LIVE", WAIT, envoy::ready);

            List<Long> rotation = new ArrayList<>();
            HeldConnections held;
            try (Held connections = new Held(standIn.outboundPort())) {
                for (int i = 0; i < rotations; i++) {
                    long begin = System.nanoTime();
                    ServedIdentity identity = envoy.rotate();
                    Await.until("serial " + identity.version(), WAIT, () -> standIn.certChainSerials().stream()
                            .findFirst().equals(Optional.of(identity.version())));
                    rotation.add(System.nanoTime() - begin);
                    connections.probe("rotation " + i);
                }
                held = connections.result();
            }
            Distribution push = Distribution.of(rotation);
            report("identity published -> stand-in /certs shows it", push);
            System.out.printf(Locale.ROOT, "%-62s held=%d  probes=%d  dropped=%d%n",
                    "connections through the stand-in during the rotations", held.held(), held.probes(),
                    held.dropped());

            List<Long> started = new ArrayList<>();
            List<Long> live = new ArrayList<>();
            for (int i = 0; i < crashes; i++) {
                long pid = supervisor.status().pid().orElseThrow();
                long begin = System.nanoTime();
                ProcessHandle.of(pid).orElseThrow().destroyForcibly();
                Await.until("new Envoy started", WAIT, () -> supervisor.status().pid().isPresent()
                        && supervisor.status().pid().getAsLong() != pid);
                started.add(System.nanoTime() - begin);
                Await.until("new Envoy LIVE", WAIT, envoy::ready);
                live.add(System.nanoTime() - begin);
            }
            Distribution toStarted = Distribution.of(started);
            Distribution toLive = Distribution.of(live);
            report("Envoy SIGKILL -> new Envoy process started", toStarted);
            report("Envoy SIGKILL -> new Envoy LIVE (stand-in JVM start + SDS)", toLive);
            return new Result(push, held, toStarted, toLive);
        }
    }

    /**
     * Connections to the stand-in's outbound capture listener (which greets and then echoes), held open; a probe
     * sends one line on each still-open connection and expects it back, and a connection that fails is dropped.
     */
    private static final class Held implements AutoCloseable {
        private final List<Socket> open = new ArrayList<>();
        private final int held;
        private int probes;
        private int dropped;

        Held(int port) throws IOException {
            for (int i = 0; i < HELD; i++) {
                Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
                socket.setSoTimeout((int) Duration.ofSeconds(5).toMillis());
                open.add(socket);
                readLine(socket.getInputStream());
            }
            held = open.size();
        }

        void probe(String what) {
            byte[] line = (what + "\n").getBytes(StandardCharsets.US_ASCII);
            for (Socket socket : List.copyOf(open)) {
                probes++;
                try {
                    OutputStream out = socket.getOutputStream();
                    out.write(line);
                    out.flush();
                    byte[] back = socket.getInputStream().readNBytes(line.length);
                    if (!Arrays.equals(back, line)) {
                        throw new IOException("echo was " + new String(back, StandardCharsets.US_ASCII));
                    }
                } catch (IOException e) {
                    dropped++;
                    open.remove(socket);
                    closeQuietly(socket);
                }
            }
        }

        HeldConnections result() {
            return new HeldConnections(held, probes, dropped);
        }

        private static void readLine(InputStream in) throws IOException {
            for (int b = in.read(); b != '\n'; b = in.read()) {
                if (b < 0) {
                    throw new IOException("the stand-in closed a new connection before its greeting");
                }
            }
        }

        private static void closeQuietly(Socket socket) {
            try {
                socket.close();
            } catch (IOException e) {
                // already broken
            }
        }

        @Override
        public void close() {
            open.forEach(Held::closeQuietly);
        }
    }

    private static void report(String what, Distribution d) {
        System.out.printf(Locale.ROOT, "%-62s n=%d  p50=%.1f ms  p99=%.1f ms  max=%.1f ms%n", what, d.n(),
                d.p50Nanos() / 1e6, d.p99Nanos() / 1e6, d.maxNanos() / 1e6);
    }
}
