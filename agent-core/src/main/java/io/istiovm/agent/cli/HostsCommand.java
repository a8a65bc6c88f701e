package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.Daemon;
import io.istiovm.agent.assembly.HostsArea;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.hosts.HostsFileWriter;
import io.istiovm.agent.hosts.HostsPlan;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "hosts", mixinStandardHelpOptions = true,
        description = {"The agent's block of the hosts file (VM_AGENT_HOSTS_FILE, default /etc/hosts): the "
                + "control-plane names mapped to VM_AGENT_GATEWAY_ADDRESS, the `hosts` file and the `hosts.d/` "
                + "drop-ins (hosts-format files, ServiceEntry YAML/JSON) of the configuration directory.",
            "Lines outside the block are never changed."})
final class HostsCommand extends CommandGroup {
    /** The command with its subcommands; registered in {@link Cli}. */
    static CommandLine commandLine(CliEnvironment env) {
        CommandLine hosts = new CommandLine(new HostsCommand());
        hosts.addSubcommand(new CommandLine(new Plan(env)));
        hosts.addSubcommand(new CommandLine(new Apply(env)));
        hosts.addSubcommand(new CommandLine(new Clean(env)));
        hosts.addSubcommand(new CommandLine(new Watch(env)));
        hosts.addSubcommand(new CommandLine(new Benchmark(env)));
        return hosts;
    }

    /** What every subcommand shares: the configuration, and the hosts area the assembly makes from it. */
    abstract static class Base extends ConfiguredCommand {
        Base(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws Exception {
            AgentConfig loaded = config.load(env).config();
            return run(loaded, env.assembly());
        }

        abstract int run(AgentConfig config, Assembly assembly) throws Exception;

        void printWarnings(HostsPlan plan) {
            for (ConfigProblem warning : plan.warnings()) {
                env.err().println(warning.render());
            }
            env.err().flush();
        }

        /** A one-shot write of {@code hosts}' file; says that the file is as it was when the write fails. */
        int write(HostsArea hosts, String what, HostsWrite write) throws ConfigException, IOException {
            HostsFileWriter.Written written;
            try {
                written = write.run(hosts);
            } catch (ConfigException | IOException e) {
                // Failures prints why below this line. Nothing was renamed into place; an in-place copy cut short
                // is finished from its journal by the next write.
                env.err().println("hosts block not " + what + "; " + hosts.settings().target() + " is unchanged:");
                env.err().flush();
                throw e;
            }
            printWarnings(written.plan());
            String outcome = switch (written.method()) {
                case UNCHANGED -> "already up to date";
                case RENAMED -> "written";
                case IN_PLACE -> "written in place (it is a mount point and cannot be replaced by rename)";
                case STALE -> throw new IllegalStateException("a planned write never ends stale");
            };
            env.out().println(written.plan().target() + ": " + outcome);
            env.out().flush();
            return ExitCodes.OK;
        }

        /** One of the hosts area's one-shot writes. */
        interface HostsWrite {
            HostsFileWriter.Written run(HostsArea hosts) throws ConfigException, IOException;
        }
    }

    @Command(name = "plan", mixinStandardHelpOptions = true,
            description = {"Print the block the sources ask for and how it differs from the file; change nothing.",
                "Exit 0, or 1 with --verify when the file differs."})
    static final class Plan extends Base {
        @Option(names = "--verify", description = "Exit 1 when the hosts file differs from the plan.")
        boolean verify;

        Plan(CliEnvironment env) {
            super(env);
        }

        @Override
        int run(AgentConfig config, Assembly assembly) throws ConfigException, IOException {
            HostsPlan plan = assembly.hosts(config).plan();
            printWarnings(plan);
            plan.describe(env.out());
            env.out().flush();
            return verify && plan.changes() ? ExitCodes.DIFFERENT : ExitCodes.OK;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Write the block into the hosts file (atomically; in place if the file is a bind mount).")
    static final class Apply extends Base {
        Apply(CliEnvironment env) {
            super(env);
        }

        @Override
        int run(AgentConfig config, Assembly assembly) throws ConfigException, IOException {
            return write(assembly.hosts(config), "written", HostsArea::applyOnce);
        }
    }

    @Command(name = "clean", mixinStandardHelpOptions = true,
            description = "Remove the block; every other byte of the hosts file stays as it is.")
    static final class Clean extends Base {
        Clean(CliEnvironment env) {
            super(env);
        }

        @Override
        int run(AgentConfig config, Assembly assembly) throws ConfigException, IOException {
            return write(assembly.hosts(config), "removed", HostsArea::clean);
        }
    }

    @Command(name = "watch", mixinStandardHelpOptions = true,
            description = "Keep the block up to date in the foreground (what `run` does for the hosts file alone) "
                    + "until SIGTERM; then remove it.")
    static final class Watch extends Base {
        Watch(CliEnvironment env) {
            super(env);
        }

        @Override
        int run(AgentConfig config, Assembly assembly) throws Exception {
            Daemon daemon = new Daemon(assembly, () -> this.config.reload(env), assembly::hostsOnly);
            io.istiovm.agent.lifecycle.Plan plan = daemon.prepare(config);
            env.out().println("watching; " + assembly.hosts(config).settings().target() + " is kept up to date");
            env.out().flush();
            Foreground.run(daemon, plan);
            return ExitCodes.OK;
        }
    }

    @Command(name = "benchmark", hidden = true, mixinStandardHelpOptions = true,
            description = "Measure the latency from a source change to the rewritten hosts file, in a scratch "
                    + "directory (no configuration is read, no real file is touched).")
    static final class Benchmark implements Callable<Integer> {
        private final CliEnvironment env;

        @Option(names = "--changes", defaultValue = "100", description = "Number of changes (default: 100).")
        int changes;

        Benchmark(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public Integer call() throws Exception {
            Benchmarks.hosts(env, changes);
            return ExitCodes.OK;
        }
    }
}
