package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.ConfigException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * {@code iptables benchmark}: how long one apply takes, for the seed configuration and for a large one (1000
 * inbound ports, 200 CIDRs), against installing the same rules with one iptables process per rule as
 * istio-iptables.sh and Consul do. Runs in a network namespace it creates and deletes.
 */
public final class CaptureBenchmark {
    private static final CaptureHost HOST = new CaptureHost(List.of(22), 998, 998, OptionalLong.of(997));

    /** The capture settings of a cluster.env, as the agent would read it. */
    @FunctionalInterface
    public interface SettingsReader {
        CaptureSettings read(String clusterEnv) throws ConfigException;
    }

    private final NetfilterTools systemTools;
    private final PrintWriter out;
    private final SettingsReader settings;

    public CaptureBenchmark(NetfilterTools systemTools, PrintWriter out, SettingsReader settings) {
        this.systemTools = systemTools;
        this.out = out;
        this.settings = settings;
    }

    /** One case: the agent's apply (median of the timed runs) against one process per rule (median of up to 3). */
    public record Case(String name, int rulesAndChains, long agentApplyNanos, long perRuleNanos) {
        public Case {
            Objects.requireNonNull(name, "name");
            if (rulesAndChains <= 0 || agentApplyNanos <= 0 || perRuleNanos <= 0) {
                throw new IllegalArgumentException("a case needs rules and positive times: " + rulesAndChains + ", "
                        + agentApplyNanos + ", " + perRuleNanos);
            }
        }

        /** How many times faster the agent's one transaction is than the per-rule baseline. */
        public double ratio() {
            return (double) perRuleNanos / agentApplyNanos;
        }
    }

    /** What {@link #run} measured: the backend and, in order, the seed case and the large case. */
    public record Result(String backend, int runs, List<Case> cases) {
        /** The seed configuration's name in {@link #cases}. */
        public static final String SEED = "seed";
        /** The large configuration's name in {@link #cases}. */
        public static final String LARGE = "1000 ports / 200 CIDRs";

        public Result {
            Objects.requireNonNull(backend, "backend");
            cases = List.copyOf(cases);
        }

        public Case byName(String name) {
            return cases.stream().filter(c -> c.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no case " + name));
        }
    }

    /** Measures, prints the table, and returns the numbers. */
    public Result run(int runs) throws Exception {
        List<Case> results = new ArrayList<>();
        String backendName;
        String namespace = "ivabench-" + ProcessHandle.current().pid();
        require(systemTools.runOnPath("ip", List.of("netns", "add", namespace)));
        try {
            NetfilterTools tools = systemTools.inNetworkNamespace(namespace);
            NetfilterCapture netfilter = NetfilterCapture.open(tools, "auto");
            backendName = netfilter.backend().suffix();
            out.printf("backend %s, namespace %s, %d timed runs per case (median)%n", netfilter.backend().suffix(),
                    namespace, runs);
            String ports = IntStream.rangeClosed(1, 1000).mapToObj(i -> Integer.toString(20000 + i))
                    .collect(Collectors.joining(","));
            String cidrs = IntStream.range(0, 200).mapToObj(i -> "10." + (i / 250) + "." + (i % 250) + ".0/24")
                    .collect(Collectors.joining(","));
            Map<String, String> cases = new LinkedHashMap<>();
            cases.put(Result.SEED, "ISTIO_SERVICE_CIDR=172.21.0.0/16\nISTIO_INBOUND_PORTS=8888\n");
            cases.put(Result.LARGE, "ISTIO_SERVICE_CIDR=" + cidrs + "\nISTIO_INBOUND_PORTS=" + ports
                    + "\n");
            for (Map.Entry<String, String> c : cases.entrySet()) {
                CapturePlan plan = CapturePlanner.plan(settings.read(c.getValue()), HOST);
                int rules = plan.ipv4().rules().size() + plan.ipv4().chains().size();
                long agent = median(runs, () -> {
                    netfilter.clean(plan.tproxyRoute());
                    long start = System.nanoTime();
                    netfilter.apply(plan);
                    return System.nanoTime() - start;
                });
                if (!netfilter.verify(plan).isEmpty()) {
                    throw new CaptureException("benchmark: agent apply did not produce the plan");
                }
                long perRule = median(Math.min(runs, 3), () -> {
                    netfilter.clean(plan.tproxyRoute());
                    long start = System.nanoTime();
                    applyOneProcessPerRule(tools, netfilter.backend(), plan.ipv4());
                    return System.nanoTime() - start;
                });
                if (!netfilter.verify(plan).isEmpty()) {
                    throw new CaptureException("benchmark: per-rule baseline did not produce the plan");
                }
                netfilter.clean(plan.tproxyRoute());
                out.printf("%-24s %5d rules+chains  agent apply (save, restore, verify) %9.1f ms   "
                                + "one process per rule %9.1f ms   ratio %6.1fx%n", c.getKey(), rules, agent / 1e6,
                        perRule / 1e6, (double) perRule / agent);
                results.add(new Case(c.getKey(), rules, agent, perRule));
            }
        } finally {
            systemTools.runOnPath("ip", List.of("netns", "del", namespace));
        }
        out.flush();
        return new Result(backendName, runs, results);
    }

    /** The baseline: every chain and rule with its own iptables process, as the 1.4 shell script did. */
    private static void applyOneProcessPerRule(NetfilterTools tools, Backend backend, CaptureRules rules)
            throws IOException, CaptureException {
        String program = backend.program(rules.family(), "");
        for (CaptureRules.OwnedChain chain : rules.chains()) {
            require(tools.run(program, List.of("-w", "5", "-t", chain.table(), "-N", chain.name()), ""));
        }
        Map<String, Integer> position = new HashMap<>();
        for (Rule rule : rules.rules()) {
            List<String> args = new ArrayList<>(List.of("-w", "5", "-t", rule.table()));
            if (rule.inBuiltInChain()) {
                args.addAll(List.of("-I", rule.chain(), Integer.toString(position.merge(rule.chain(), 1,
                        Integer::sum))));
            } else {
                args.addAll(List.of("-A", rule.chain()));
            }
            args.addAll(Arrays.asList(rule.spec().split(" ")));
            require(tools.run(program, args, ""));
        }
    }

    @FunctionalInterface
    private interface Timed {
        long run() throws Exception;
    }

    private static long median(int runs, Timed timed) throws Exception {
        long[] samples = new long[Math.max(1, runs)];
        for (int i = 0; i < samples.length; i++) {
            samples[i] = timed.run();
        }
        Arrays.sort(samples);
        return samples[samples.length / 2];
    }

    private static void require(CommandRunner.Result result) throws CaptureException {
        if (!result.ok()) {
            throw new CaptureException(result.describe());
        }
    }
}
