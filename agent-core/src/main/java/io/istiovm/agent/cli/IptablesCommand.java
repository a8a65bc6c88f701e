package io.istiovm.agent.cli;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.netfilter.CaptureBenchmark;
import io.istiovm.agent.netfilter.CaptureException;
import io.istiovm.agent.netfilter.CapturePlan;
import io.istiovm.agent.netfilter.CapturePlans;
import io.istiovm.agent.netfilter.Drift;
import io.istiovm.agent.netfilter.NetfilterCapture;
import io.istiovm.agent.netfilter.NetfilterTools;
import java.io.IOException;
import java.util.Optional;
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

    /** Shared by the subcommands: load configuration, build the plan, map failures to exit codes. */
    abstract static class Base implements Callable<Integer> {
        final CliEnvironment env;

        @Mixin
        ConfigOptions config;

        Base(CliEnvironment env) {
            this.env = env;
        }

        AgentConfig load() throws ExitException {
            return config.load(env).config();
        }

        CapturePlan plan(AgentConfig agentConfig) throws ExitException {
            try {
                return CapturePlans.forHost(agentConfig, env.host());
            } catch (ConfigException e) {
                throw ConfigOptions.rejected(env, e);
            } catch (IOException e) {
                throw fail(ExitCodes.IO_ERROR, e.getMessage());
            }
        }

        /** What apply and verify do with netfilter once the plan is known. */
        @FunctionalInterface
        interface PlanAction {
            int run(NetfilterCapture netfilter, CapturePlan plan) throws CaptureException;
        }

        /**
         * Loads the configuration, plans, opens the backend it names in {@code target}, and runs {@code action};
         * a refusal by the system is exit 71.
         */
        int withPlan(Target target, PlanAction action) throws ExitException {
            AgentConfig agentConfig = load();
            CapturePlan plan = plan(agentConfig);
            try {
                return action.run(NetfilterCapture.open(target.tools(),
                        agentConfig.get(ConfigKeys.VM_AGENT_IPTABLES_BACKEND)), plan);
            } catch (CaptureException e) {
                throw fail(ExitCodes.OS_ERROR, e.getMessage());
            }
        }

        ExitException fail(int code, String message) {
            env.err().println("error: " + message);
            env.err().flush();
            return new ExitException(code);
        }
    }

    @Command(name = "plan", mixinStandardHelpOptions = true,
            description = "Print the rules the configuration asks for (iptables-restore format); change nothing.")
    static final class Plan extends Base {
        Plan(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ExitException {
            env.out().print(plan(load()).render());
            env.out().flush();
            return ExitCodes.OK;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Replace the agent's capture rules with the plan, atomically per address family.")
    static final class Apply extends Base {
        @Mixin
        Target target;

        Apply(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ExitException {
            return withPlan(target, (netfilter, plan) -> {
                netfilter.apply(plan);
                env.out().println("capture rules applied (" + netfilter.backend().suffix() + " backend)");
                env.out().flush();
                return ExitCodes.OK;
            });
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = {"Compare the agent's rules in the kernel with the plan.",
                "Exit 0 when they match; otherwise print the difference ('-' missing, '+' unexpected) and exit 1."})
    static final class Verify extends Base {
        @Mixin
        Target target;

        Verify(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ExitException {
            return withPlan(target, (netfilter, plan) -> {
                Drift drift = netfilter.verify(plan);
                if (drift.isEmpty()) {
                    env.out().println("capture rules match the plan");
                    env.out().flush();
                    return ExitCodes.OK;
                }
                env.out().print(drift.describe());
                env.out().flush();
                return ExitCodes.DIFFERENT;
            });
        }
    }

    @Command(name = "clean", mixinStandardHelpOptions = true,
            description = {"Remove every chain and jump rule the agent owns (and its TPROXY routes).",
                "Succeeds on a host with nothing to remove; running it twice is the same as once."})
    static final class Clean extends Base {
        @Mixin
        Target target;

        Clean(CliEnvironment env) {
            super(env);
        }

        @Override
        public Integer call() throws ExitException {
            // Cleaning must work when the configuration is broken or gone (uninstall, a bad edit before a stop):
            // then the backend is detected and the TPROXY routes, whose numbers only the configuration knows,
            // are left alone.
            String backend = "auto";
            Optional<CapturePlan.TproxyRoute> route = Optional.empty();
            try {
                AgentConfig agentConfig = load();
                backend = agentConfig.get(ConfigKeys.VM_AGENT_IPTABLES_BACKEND);
                route = CapturePlans.configuredRoute(agentConfig);
            } catch (ExitException e) {
                env.err().println("warning: configuration unusable; removing the agent's rules anyway "
                        + "(backend detected, TPROXY routes left alone)");
                env.err().flush();
            }
            try {
                NetfilterCapture.open(target.tools(), backend).clean(route);
                env.out().println("capture rules removed");
                env.out().flush();
                return ExitCodes.OK;
            } catch (CaptureException e) {
                throw fail(ExitCodes.OS_ERROR, e.getMessage());
            }
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
            new CaptureBenchmark(NetfilterTools.system(), env.out()).run(runs);
            env.out().flush();
            return ExitCodes.OK;
        }
    }
}
