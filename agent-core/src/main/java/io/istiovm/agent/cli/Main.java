package io.istiovm.agent.cli;

import io.istiovm.agent.logging.AgentLogging;

/** The process entry point. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        // gRPC logs through java.util.logging: into the agent's log (journal priorities, levels), not JUL's stderr.
        AgentLogging.bridgeJavaUtilLogging();
        System.exit(Cli.execute(CliEnvironment.system(), args));
    }
}
