package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.IdentityArea;
import io.istiovm.agent.ca.CaException;
import io.istiovm.agent.ca.RotationPolicy;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code certs show} and {@code certs rotate}: the workload identity in OUTPUT_CERTS / PROV_CERT, through the
 * assembly's identity area (the same code as the daemon's). Failures are thrown for {@link Failures} to print
 * and map: an invalid identity exits 65, a CA failure 69, an unwritable directory 74.
 */
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
    static final class Show extends ConfiguredCommand {
        Show(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ConfigException, InvalidIdentityException, IOException {
            AgentConfig agentConfig = config.load(env).config();
            Assembly assembly = env.assembly();
            IdentityArea identity = assembly.identity(agentConfig);
            print(env.out(), identity.load(), identity.settings().rotation(), assembly.runtime().clock().instant());
            return ExitCodes.OK;
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
            description = "Rotate the identity now against the configured CA (enrol with VM_AGENT_CA_TOKEN_FILE when "
                    + "there is no valid identity), then print it.")
    static final class Rotate extends ConfiguredCommand {

        @Option(names = "--repeat", paramLabel = "N", defaultValue = "1",
                description = "Rotate N times back to back and print the rate (soak test and benchmark).")
        int repeat;

        Rotate(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ConfigException, InvalidIdentityException, CaException, IOException {
            AgentConfig agentConfig = config.load(env).config();
            Assembly assembly = env.assembly();
            IdentityArea identity = assembly.identity(agentConfig);
            Clock clock = assembly.runtime().clock();
            Instant started = clock.instant();
            WorkloadIdentity rotated = identity.rotate(repeat);
            Instant done = clock.instant();
            print(env.out(), rotated, identity.settings().rotation(), done);
            if (repeat > 1) {
                Duration took = Duration.between(started, done);
                env.out().printf("rotations:       %d in %d ms (%.1f per second)%n", repeat, took.toMillis(),
                        repeat * 1e9 / Math.max(1, took.toNanos()));
            }
            env.out().flush();
            return ExitCodes.OK;
        }
    }

    static void print(PrintWriter out, WorkloadIdentity identity, RotationPolicy policy, Instant now) {
        Instant[] window = policy.rotationWindow(identity.notBefore(), identity.notAfter());
        out.println("identity:        " + identity.spiffeId());
        out.println("serial:          " + identity.serialHex());
        out.println("not before:      " + identity.notBefore());
        out.println("not after:       " + identity.notAfter());
        out.println("chain length:    " + identity.chain().size());
        out.println("key:             " + identity.key().getAlgorithm());
        out.println("next rotation:   " + RotationPolicy.describeWindow(window)
                + (window[1].isBefore(now) ? " (due now)" : ""));
        out.flush();
    }
}
