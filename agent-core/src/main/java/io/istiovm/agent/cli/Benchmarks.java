package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.hosts.HostsLatencyBenchmark;
import io.istiovm.agent.netfilter.CaptureBenchmark;
import io.istiovm.agent.netfilter.NetfilterTools;
import java.nio.file.Path;

/**
 * The agent's own benchmarks wired as the daemon wires their components, in one place: {@code iptables benchmark}
 * and {@code hosts benchmark} call these, and so does the benchmark suite (integration-tests, {@code bench}),
 * which gets the same numbers as records. Each prints its table to {@code env.out()}.
 */
public final class Benchmarks {
    private Benchmarks() {
    }

    /** Capture rules apply time in a scratch namespace (root): the agent's reading of each case's cluster.env. */
    public static CaptureBenchmark.Result capture(CliEnvironment env, int runs) throws Exception {
        Assembly assembly = env.assembly();
        ConfigFiles scratch = ConfigFiles.inDirectory(Path.of("iptables-benchmark"));
        CaptureBenchmark.Result result = new CaptureBenchmark(NetfilterTools.system(), env.out(),
                clusterEnv -> assembly.capture(new ConfigLoader(env.host()).loadInMemory(scratch, clusterEnv)
                        .config()).settings()).run(runs);
        env.out().flush();
        return result;
    }

    /** hosts.d source change to rewritten hosts file, in a scratch directory, on the agent's loops. */
    public static HostsLatencyBenchmark.Result hosts(CliEnvironment env, int changes) throws Exception {
        try (AgentRuntime runtime = env.assembly().runtime()) {
            HostsLatencyBenchmark.Result result = HostsLatencyBenchmark.run(changes, runtime.loops(),
                    runtime.fileEvents(), env.out());
            env.out().flush();
            return result;
        }
    }
}
