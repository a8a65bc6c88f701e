package io.istiovm.agent.cli;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.Daemon;
import io.istiovm.agent.hosts.HostsFileWriter;
import io.istiovm.agent.hosts.HostsInputs;
import io.istiovm.agent.hosts.HostsLatencyBenchmark;
import io.istiovm.agent.hosts.HostsPlan;
import io.istiovm.agent.hosts.HostsPlanner;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "hosts", mixinStandardHelpOptions = true,
        description = {"The agent's block of the hosts file (VM_AGENT_HOSTS_FILE, default /etc/hosts): the "
                + "control-plane names mapped to VM_AGENT_GATEWAY_ADDRESS, the `hosts` file and the `hosts.d/` "
                + "drop-ins (hosts-format files, ServiceEntry YAML/JSON) of the configuration directory.",
            "Lines outside the block are never changed."})
final class HostsCommand extends CommandGroup {
    private static final int STALE_ATTEMPTS = 5;

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

    /** What every subcommand shares: loading configuration and turning failures into exit codes. */
    abstract static class Base implements Callable<Integer> {
        final CliEnvironment env;

        @Mixin
        ConfigOptions config;

        Base(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public Integer call() throws Exception {
            AgentConfig loaded = config.load(env).config();
            Path target = loaded.get(ConfigKeys.VM_AGENT_HOSTS_FILE);
            try {
                return run(loaded, target);
            } catch (ConfigException e) {
                ConfigOptions.print(env.err(), e.problems());
                int errors = e.errors().size();
                env.err().println("hosts block not written: " + errors + (errors == 1 ? " error" : " errors")
                        + "; " + target + " is unchanged");
                env.err().flush();
                throw new ExitException(ExitCodes.CONFIG);
            } catch (AccessDeniedException e) {
                env.err().println("error: " + e.getFile() + ": permission denied; " + target + " is unchanged");
                env.err().flush();
                throw new ExitException(ExitCodes.OS_ERROR);
            } catch (IOException e) {
                env.err().println("error: " + target + ": " + e);
                env.err().flush();
                throw new ExitException(ExitCodes.IO_ERROR);
            }
        }

        abstract int run(AgentConfig config, Path target) throws Exception;

        void printWarnings(HostsPlan plan) {
            for (ConfigProblem warning : plan.warnings()) {
                env.err().println(warning.render());
            }
            env.err().flush();
        }

        /** Computes a plan again, for when the file changed between reading and writing. */
        interface Planner {
            HostsPlan plan() throws ConfigException, IOException;
        }

        int writeReplanningWhenStale(HostsPlan first, Planner planner) throws ConfigException, IOException {
            HostsFileWriter writer = new HostsFileWriter();
            HostsPlan plan = first;
            HostsFileWriter.Method method = writer.write(plan.target(), plan.current().bytes(), plan.desired());
            for (int attempt = 1; method == HostsFileWriter.Method.STALE && attempt < STALE_ATTEMPTS; attempt++) {
                plan = planner.plan();
                method = writer.write(plan.target(), plan.current().bytes(), plan.desired());
            }
            String outcome = switch (method) {
                case UNCHANGED -> "already up to date";
                case RENAMED -> "written";
                case IN_PLACE -> "written in place (it is a mount point and cannot be replaced by rename)";
                case STALE -> "changed by someone else on every attempt; nothing written, run it again";
            };
            env.out().println(plan.target() + ": " + outcome);
            env.out().flush();
            return method == HostsFileWriter.Method.STALE ? ExitCodes.IO_ERROR : ExitCodes.OK;
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
        int run(AgentConfig config, Path target) throws ConfigException, IOException {
            HostsPlan plan = HostsPlanner.apply(HostsInputs.from(config), target);
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
        int run(AgentConfig config, Path target) throws ConfigException, IOException {
            new HostsFileWriter().recover(target);
            HostsPlan plan = HostsPlanner.apply(HostsInputs.from(config), target);
            printWarnings(plan);
            return writeReplanningWhenStale(plan, () -> HostsPlanner.apply(HostsInputs.from(config), target));
        }
    }

    @Command(name = "clean", mixinStandardHelpOptions = true,
            description = "Remove the block; every other byte of the hosts file stays as it is.")
    static final class Clean extends Base {
        Clean(CliEnvironment env) {
            super(env);
        }

        @Override
        int run(AgentConfig config, Path target) throws ConfigException, IOException {
            new HostsFileWriter().recover(target);
            return writeReplanningWhenStale(HostsPlanner.clean(target), () -> HostsPlanner.clean(target));
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
        int run(AgentConfig config, Path target) throws Exception {
            Assembly assembly = env.assembly();
            Daemon daemon = new Daemon(assembly.runtime(), () -> this.config.reload(env), assembly::hostsOnly);
            io.istiovm.agent.lifecycle.Plan plan = daemon.prepare(config);
            env.out().println("watching; " + target + " is kept up to date");
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
            HostsLatencyBenchmark.run(changes, env.out());
            env.out().flush();
            return ExitCodes.OK;
        }
    }
}
