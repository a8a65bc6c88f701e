package io.istiovm.agent.cli;

import io.istiovm.agent.assembly.CaptureArea;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.netfilter.Backend;
import io.istiovm.agent.netfilter.CaptureException;
import io.istiovm.agent.netfilter.Drift;
import io.istiovm.agent.netfilter.NetfilterTools;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.IFactory;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code istio-vm-agent iptables plan|apply|verify|clean|benchmark}: the traffic capture rules by hand. */
@Command(name = "iptables", mixinStandardHelpOptions = true,
        description = "Traffic capture rules: print the plan, apply, verify, remove, benchmark.",
        subcommands = {IptablesCommand.Plan.class, IptablesCommand.Apply.class, IptablesCommand.Verify.class,
            IptablesCommand.Clean.class, IptablesCommand.Benchmark.class})
final class IptablesCommand extends CommandGroup {

    /** Builds the subcommands with the environment (they take it in their constructors). */
    static final class Factory implements IFactory {
        private final CliEnvironment env;

        Factory(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public <K> K create(Class<K> type) throws Exception {
            try {
                java.lang.reflect.Constructor<K> constructor = type.getDeclaredConstructor(CliEnvironment.class);
                return constructor.newInstance(env);
            } catch (NoSuchMethodException e) {
                return CommandLine.defaultFactory().create(type);
            }
        }
    }

    /** Where the iptables programs run; {@code --netns} is for containers and tests. */
    static final class Target {
        @Option(names = "--netns", paramLabel = "NAME",
                description = "Operate inside network namespace NAME (ip netns exec) instead of the host's.")
        String netns;

        @Option(names = "--iptables-dir", paramLabel = "DIR", hidden = true,
                description = "Directory of the iptables-*-save/-restore programs (default: PATH).")
        String iptablesDir;

        NetfilterTools tools() {
            NetfilterTools tools = NetfilterTools.system();
            if (iptablesDir != null) {
                tools = tools.withBinDir(iptablesDir);
            }
            return netns == null ? tools : tools.inNetworkNamespace(netns);
        }
    }

    /** Shared by the subcommands: the configuration's capture area, which plans as the running agent does. */
    abstract static class Base extends ConfiguredCommand {
        Base(CliEnvironment env) {
            super(env);
        }

        CaptureArea area() throws ConfigException {
            return env.assembly().capture(config.load(env).config());
        }

        void print(String text) {
            env.out().print(text);
            env.out().flush();
        }
    }

    /** A subcommand that reads or changes netfilter, on the host or in {@code --netns}. */
    abstract static class OnNetfilter extends Base {
        @Mixin
        Target target;

        OnNetfilter(CliEnvironment env) {
            super(env);
        }
    }

    @Command(name = "plan", mixinStandardHelpOptions = true,
            description = "Print the rules the configuration asks for (iptables-restore format); change nothing.")
    static final class Plan extends Base {
        Plan(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws IOException, ConfigException {
            print(area().plan().render());
            return ExitCodes.OK;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Replace the agent's capture rules with the plan, atomically per address family.")
    static final class Apply extends OnNetfilter {
        Apply(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws IOException, ConfigException, CaptureException {
            Backend backend = area().apply(target.tools());
            print("capture rules applied (" + backend.suffix() + " backend)\n");
            return ExitCodes.OK;
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = {"Compare the agent's rules in the kernel with the plan.",
                "Exit 0 when they match; otherwise print the difference ('-' missing, '+' unexpected) and exit 1."})
    static final class Verify extends OnNetfilter {
        Verify(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws IOException, ConfigException, CaptureException {
            Drift drift = area().verify(target.tools());
            if (drift.isEmpty()) {
                print("capture rules match the plan\n");
                return ExitCodes.OK;
            }
            print(drift.describe());
            return ExitCodes.DIFFERENT;
        }
    }

    @Command(name = "clean", mixinStandardHelpOptions = true,
            description = {"Remove every chain and jump rule the agent owns (and its TPROXY routes).",
                "Succeeds on a host with nothing to remove; running it twice is the same as once."})
    static final class Clean extends OnNetfilter {
        Clean(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws CaptureException {
            NetfilterTools tools = target.tools();
            try {
                area().clean(tools);
            } catch (ConfigException e) {
                // Cleaning must work when the configuration is broken or gone (uninstall, a bad edit before a stop).
                Failures.print(env.err(), e);
                env.err().println("warning: configuration unusable; removing the agent's rules anyway "
                        + "(backend detected, TPROXY routes left alone)");
                env.err().flush();
                CaptureArea.cleanUnconfigured(tools);
            }
            print("capture rules removed\n");
            return ExitCodes.OK;
        }
    }

    @Command(name = "benchmark", mixinStandardHelpOptions = true,
            description = {"Measure apply time in a scratch network namespace: the seed configuration and one with "
                + "1000 inbound ports and 200 CIDRs, against one iptables process per rule."})
    static final class Benchmark implements Callable<Integer> {
        private final CliEnvironment env;

        @Option(names = "--runs", defaultValue = "5", description = "Timed runs per case (default: ${DEFAULT-VALUE}).")
        int runs;

        Benchmark(CliEnvironment env) {
            this.env = env;
        }

        @Override
        public Integer call() throws Exception {
            Benchmarks.capture(env, runs);
            return ExitCodes.OK;
        }
    }
}
