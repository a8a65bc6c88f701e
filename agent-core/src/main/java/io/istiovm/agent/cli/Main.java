package io.istiovm.agent.cli;

/** The process entry point. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(Cli.execute(CliEnvironment.system(), args));
    }
}
