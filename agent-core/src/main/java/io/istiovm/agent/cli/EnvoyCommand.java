package io.istiovm.agent.cli;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.InvalidBootstrapException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code envoy ...}: look at what the agent would give Envoy, without starting it. */
@Command(name = "envoy", mixinStandardHelpOptions = true, subcommands = EnvoyCommand.Bootstrap.class,
        description = "Envoy sidecar: print the bootstrap the agent would start Envoy with.")
final class EnvoyCommand extends CommandGroup {
    private final CliEnvironment env;

    EnvoyCommand(CliEnvironment env) {
        this.env = env;
    }

    @Command(name = "bootstrap", mixinStandardHelpOptions = true,
            description = "Print the Envoy v3 bootstrap (JSON), validated against Envoy's own schema.")
    static final class Bootstrap implements Callable<Integer> {
        @picocli.CommandLine.ParentCommand
        EnvoyCommand parent;

        @Mixin
        ConfigOptions config;

        @Override
        public Integer call() throws ConfigException, InvalidBootstrapException {
            CliEnvironment env = parent.env;
            ConfigLoader.Result loaded = config.load(env);
            EnvoyBootstrap bootstrap = env.assembly().envoy(loaded.config()).bootstrap();
            env.out().print(bootstrap.json());
            env.out().flush();
            return ExitCodes.OK;
        }
    }
}
