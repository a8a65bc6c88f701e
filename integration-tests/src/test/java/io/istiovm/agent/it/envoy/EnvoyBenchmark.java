package io.istiovm.agent.it.envoy;

import io.istiovm.agent.envoy.EnvoySupervision;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * Two measurements with the stand-in, printed, never asserted (see README, "Envoy"):
 * <ol>
 *   <li>identity available (published to SDS) → the stand-in holds it (its {@code /certs} shows the serial),
 *       over 100 rotations;</li>
 *   <li>Envoy SIGKILLed → a new Envoy process started by the supervisor (a first restart, no backoff), and →
 *       that Envoy LIVE, over 20 crashes.</li>
 * </ol>
 * Run as root: {@code java -cp <test classpath> io.istiovm.agent.it.envoy.EnvoyBenchmark [rotations] [crashes]}.
 */
public final class EnvoyBenchmark {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private EnvoyBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int rotations = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int crashes = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        try (EnvoyStandInFixture standIn = new EnvoyStandInFixture();
             SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_POLL_INTERVAL=10ms",
                     "VM_AGENT_ENVOY_STABLE_PERIOD=1ms").start()) {
            EnvoySupervision supervisor = envoy.supervisor();
            Await.until("LIVE", WAIT, envoy::ready);

            List<Long> rotation = new ArrayList<>();
            for (int i = 0; i < rotations; i++) {
                long begin = System.nanoTime();
                ServedIdentity identity = envoy.rotate();
                Await.until("serial " + identity.version(), WAIT, () -> standIn.certChainSerials().stream()
                        .findFirst().equals(Optional.of(identity.version())));
                rotation.add(System.nanoTime() - begin);
            }
            report("identity published -> stand-in /certs shows it", rotation);

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
            report("Envoy SIGKILL -> new Envoy process started", started);
            report("Envoy SIGKILL -> new Envoy LIVE (stand-in JVM start + SDS)", live);
        }
    }

    private static void report(String what, List<Long> nanos) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        System.out.printf("%-62s n=%d  p50=%.1f ms  p99=%.1f ms  max=%.1f ms%n", what, sorted.size(),
                percentile(sorted, 50), percentile(sorted, 99), sorted.get(sorted.size() - 1) / 1e6);
    }

    private static double percentile(List<Long> sorted, int p) {
        int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, index)) / 1e6;
    }
}
