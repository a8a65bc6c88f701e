package io.istiovm.agent.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
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
        Properties properties = new Properties();
        try (InputStream in = VersionCommand.class.getResourceAsStream("/io/istiovm/agent/version.properties")) {
            if (in != null) {
                properties.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return properties.getProperty("version", "unknown");
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
