package io.istiovm.agent.cli;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.InvalidBootstrapException;
import io.istiovm.agent.envoy.AdminAddress;
import io.istiovm.agent.envoy.EnvoyAdminClient;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code envoy ...}: look at what the agent would give Envoy, without starting it. */
@Command(name = "envoy", mixinStandardHelpOptions = true,
        subcommands = {EnvoyCommand.Bootstrap.class, EnvoyCommand.Admin.class},
        description = "Envoy sidecar: print the bootstrap the agent would start Envoy with, query its admin API.")
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

    /**
     * {@code envoy admin PATH}: the running Envoy's admin API, where the configuration puts it (by default the unix
     * socket only root and Envoy's group can reach, which is why this is a command: {@code curl} would need
     * {@code --unix-socket} and the path).
     */
    @Command(name = "admin", mixinStandardHelpOptions = true,
            description = "Query the running Envoy's admin API (e.g. envoy admin /server_info) and print the answer.")
    static final class Admin implements Callable<Integer> {
        private static final Duration TIMEOUT = Duration.ofSeconds(10);

        @picocli.CommandLine.ParentCommand
        EnvoyCommand parent;

        @Mixin
        ConfigOptions config;

        @Parameters(index = "0", paramLabel = "PATH", description = "Admin path and query, e.g. /server_info.")
        String path;

        @Option(names = "--post", description = "Send POST (e.g. /logging?level=debug) instead of GET.")
        boolean post;

        @Override
        public Integer call() throws ConfigException {
            CliEnvironment env = parent.env;
            ConfigLoader.Result loaded = config.load(env);
            AdminAddress address = env.assembly().envoy(loaded.config()).settings().adminAddress();
            if (!path.startsWith("/") || path.chars().anyMatch(c -> c <= ' ' || c >= 0x7f)) {
                env.err().println("error: admin PATH must start with / and hold no spaces or control characters");
                env.err().flush();
                return ExitCodes.USAGE;
            }
            EnvoyAdminClient client = new EnvoyAdminClient(address, TIMEOUT);
            Optional<EnvoyAdminClient.Response> response = post
                    ? client.postForAnswer(path) : client.get(path);
            if (response.isEmpty()) {
                env.err().println("error: Envoy's admin API at " + address + " did not answer (is the agent running?)");
                env.err().flush();
                return ExitCodes.UNAVAILABLE;
            }
            env.out().print(response.get().body());
            env.out().flush();
            if (response.get().status() != 200) {
                env.err().println("error: Envoy's admin API answered HTTP " + response.get().status());
                env.err().flush();
                return ExitCodes.UNAVAILABLE;
            }
            return ExitCodes.OK;
        }
    }
}
