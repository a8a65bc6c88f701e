package io.istiovm.agent.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;

@Command(name = "version", mixinStandardHelpOptions = true, description = "Print the agent's version.")
final class VersionCommand implements Runnable {
    private final CliEnvironment env;

    VersionCommand(CliEnvironment env) {
        this.env = env;
    }

    @Override
    public void run() {
        env.out().println(line());
    }

    static String version() {
        return io.istiovm.agent.metrics.BuildInfo.version();
    }

    static String line() {
        return "istio-vm-agent " + version() + " (Java " + Runtime.version() + ")";
    }

    /** Lets {@code --version} on the root command print the same line. */
    static final class Provider implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {line()};
        }
    }
}
