package io.istiovm.agent.testing;

import io.istiovm.agent.cli.Cli;
import io.istiovm.agent.cli.CliEnvironment;
import io.istiovm.agent.config.HostFacts;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;

/**
 * Runs the agent's command line in-process with a fixed environment and host, capturing both output streams.
 * The same entry point as the real binary ({@link Cli}), so exit codes and messages are the ones users see.
 */
public final class CliRun {
    /** A host named {@code vm1} with the single address 10.0.0.5, so derived defaults are stable in tests. */
    public static final HostFacts TEST_HOST = HostFacts.fixed("vm1", List.of(address("10.0.0.5")));

    private final int exitCode;
    private final String out;
    private final String err;

    private CliRun(int exitCode, String out, String err) {
        this.exitCode = exitCode;
        this.out = out;
        this.err = err;
    }

    public static CliRun run(Map<String, String> environment, String... args) {
        return run(TEST_HOST, environment, args);
    }

    /** On {@code host} (a test's own users and groups, say: {@link HostFacts#withAccounts}). */
    public static CliRun run(HostFacts host, Map<String, String> environment, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CliEnvironment env = new CliEnvironment(environment, host, new PrintWriter(out), new PrintWriter(err));
        int code = Cli.execute(env, args);
        return new CliRun(code, out.toString(), err.toString());
    }

    public static CliRun run(String... args) {
        return run(Map.of(), args);
    }

    public int exitCode() {
        return exitCode;
    }

    public String out() {
        return out;
    }

    public String err() {
        return err;
    }

    private static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    @Override
    public String toString() {
        return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
