package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.config.HostFacts;
import java.io.PrintWriter;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * What commands read from and write to the outside world, injected so that tests run commands in-process
 * against scratch directories and fixed host facts. {@code runtime} makes the process's one {@link AgentRuntime}
 * (clock, loops, file watch, host paths) from the host facts; commands ask {@link #assembly()} for what they need.
 */
public record CliEnvironment(Map<String, String> environment, HostFacts host, PrintWriter out, PrintWriter err,
                             Function<HostFacts, AgentRuntime> runtime) {
    public CliEnvironment {
        environment = Map.copyOf(environment);
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(runtime, "runtime");
    }

    /** On the real host's clock, loops and files. */
    public CliEnvironment(Map<String, String> environment, HostFacts host, PrintWriter out, PrintWriter err) {
        this(environment, host, out, err, AgentRuntime::system);
    }

    public static CliEnvironment system() {
        return new CliEnvironment(System.getenv(), HostFacts.system(), new PrintWriter(System.out, true),
                new PrintWriter(System.err, true));
    }

    /** The assembly over a new runtime; a command asks once. */
    public Assembly assembly() {
        return new Assembly(runtime.apply(host));
    }
}
