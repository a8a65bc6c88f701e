package io.istiovm.agent.cli;

import io.istiovm.agent.ca.CaException;
import io.istiovm.agent.ca.IdentityFiles;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.AgentConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code certs show} and {@code certs rotate}: the workload identity in OUTPUT_CERTS / PROV_CERT. */
@Command(name = "certs", mixinStandardHelpOptions = true,
        description = "Show or rotate the workload identity (root-cert.pem, cert-chain.pem, key.pem).")
final class CertsCommand extends CommandGroup {
    static CommandLine commandLine(CliEnvironment env) {
        CommandLine certs = new CommandLine(new CertsCommand());
        certs.addSubcommand(new CommandLine(new Show(env)));
        certs.addSubcommand(new CommandLine(new Rotate(env)));
        return certs;
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Print the identity (SPIFFE id, serial, validity, chain length, next rotation); exit 65 "
                    + "naming every problem when the files are not a valid identity.")
    static final class Show implements Callable<Integer> {
        private final CliEnvironment env;
        @Mixin
        ConfigOptions config;

        Show(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public Integer call() throws ExitException {
            AgentConfig agentConfig = config.load(env).config();
            Clock clock = Clock.systemUTC();
            IdentityFiles files = open(env, agentConfig, clock);
            WorkloadIdentity identity = load(env, files);
            print(env.out(), identity, files, clock.instant());
            return ExitCodes.OK;
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
            description = "Rotate the identity now against the configured CA (enrol with VM_AGENT_CA_TOKEN_FILE when "
                    + "there is no valid identity), then print it.")
    static final class Rotate implements Callable<Integer> {
        private final CliEnvironment env;
        @Mixin
        ConfigOptions config;

        @Option(names = "--repeat", paramLabel = "N", defaultValue = "1",
                description = "Rotate N times back to back and print the rate (soak test and benchmark).")
        int repeat;

        Rotate(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public Integer call() throws ExitException {
            AgentConfig agentConfig = config.load(env).config();
            Clock clock = Clock.systemUTC();
            IdentityFiles files = open(env, agentConfig, clock);
            Optional<WorkloadIdentity> current;
            try {
                current = Optional.of(files.load());
            } catch (InvalidIdentityException e) {
                env.err().println("no valid identity (" + e.getMessage() + "); enrolling");
                current = Optional.empty();
            } catch (IOException e) {
                throw fail(env, "error: " + e, ExitCodes.IO_ERROR);
            }
            long started = System.nanoTime();
            for (int i = 0; i < Math.max(1, repeat); i++) {
                try {
                    current = Optional.of(files.renew(current));
                } catch (CaException e) {
                    throw fail(env, "error: rotation failed: " + e.getMessage(), ExitCodes.UNAVAILABLE);
                } catch (InvalidIdentityException e) {
                    throw fail(env, "error: the CA's answer was refused, the current identity is kept: "
                            + e.getMessage(), ExitCodes.DATA);
                } catch (IOException e) {
                    throw fail(env, "error: cannot write " + files.output().dir() + ": " + e, ExitCodes.IO_ERROR);
                } catch (Exception e) {
                    throw fail(env, "error: rotation failed: " + e, ExitCodes.SOFTWARE);
                }
            }
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            print(env.out(), current.orElseThrow(), files, clock.instant());
            if (repeat > 1) {
                env.out().printf("rotations:       %d in %d ms (%.1f per second)%n", repeat, took.toMillis(),
                        repeat * 1e9 / Math.max(1, took.toNanos()));
            }
            env.out().flush();
            return ExitCodes.OK;
        }
    }

    private static IdentityFiles open(CliEnvironment env, AgentConfig config, Clock clock) throws ExitException {
        try {
            return new IdentityFiles(config, clock);
        } catch (IOException e) {
            throw fail(env, "error: " + e, ExitCodes.IO_ERROR);
        }
    }

    private static WorkloadIdentity load(CliEnvironment env, IdentityFiles files) throws ExitException {
        try {
            return files.load();
        } catch (InvalidIdentityException e) {
            for (String problem : e.problems()) {
                env.err().println("error: " + problem);
            }
            throw fail(env, "the workload identity is not valid: " + e.problems().size()
                    + (e.problems().size() == 1 ? " problem" : " problems"), ExitCodes.DATA);
        } catch (IOException e) {
            throw fail(env, "error: " + e, ExitCodes.IO_ERROR);
        }
    }

    private static ExitException fail(CliEnvironment env, String message, int code) {
        env.err().println(message);
        env.err().flush();
        return new ExitException(code);
    }

    static void print(PrintWriter out, WorkloadIdentity identity, IdentityFiles files, Instant now) {
        Instant[] window = files.policy().rotationWindow(identity.notBefore(), identity.notAfter());
        out.println("identity:        " + identity.spiffeId());
        out.println("serial:          " + identity.serialHex());
        out.println("not before:      " + identity.notBefore());
        out.println("not after:       " + identity.notAfter());
        out.println("chain length:    " + identity.chain().size());
        out.println("key:             " + identity.key().getAlgorithm());
        out.println("next rotation:   between " + window[0] + " and " + window[1]
                + (window[1].isBefore(now) ? " (due now)" : ""));
        out.flush();
    }
}
