package io.istiovm.agent.cli;

import io.istiovm.agent.config.HostFacts;
import java.io.PrintWriter;
import java.util.Map;

/**
 * What commands read from and write to the outside world, injected so that tests run commands in-process
 * against scratch directories and fixed host facts.
 */
public record CliEnvironment(Map<String, String> environment, HostFacts host, PrintWriter out, PrintWriter err) {
    public CliEnvironment {
        environment = Map.copyOf(environment);
    }

    public static CliEnvironment system() {
        return new CliEnvironment(System.getenv(), HostFacts.system(), new PrintWriter(System.out, true),
                new PrintWriter(System.err, true));
    }
}
