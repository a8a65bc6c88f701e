package io.istiovm.agent.cli;

import picocli.AutoComplete;
import picocli.CommandLine;

/** Builds the command tree with its collaborators injected; {@link Main} and tests both go through here. */
public final class Cli {
    private Cli() {
    }

    public static CommandLine commandLine(CliEnvironment env) {
        CommandLine root = new CommandLine(new AgentCommand());
        root.addSubcommand(new CommandLine(new RunCommand(env)));
        root.addSubcommand(new CommandLine(new CheckCommand(env)));
        root.addSubcommand(new CommandLine(new VersionCommand(env)));
        root.addSubcommand(new CommandLine(new DocsCommand(env)));
        root.addSubcommand(HostsCommand.commandLine(env));
        root.addSubcommand(new CommandLine(IptablesCommand.class, new IptablesCommand.Factory(env)));
        root.addSubcommand(CertsCommand.commandLine(env));
        root.addSubcommand(new CommandLine(new EnvoyCommand(env)));
        root.addSubcommand(new CommandLine(new StatusCommand(env)));
        CommandLine completion = new CommandLine(new AutoComplete.GenerateCompletion());
        completion.getCommandSpec().usageMessage().hidden(false);
        root.addSubcommand("generate-completion", completion);
        root.setOut(env.out());
        root.setErr(env.err());
        root.setExitCodeExceptionMapper(Cli::exitCode);
        root.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            Failures.print(cmd.getErr(), ex);
            return Failures.exitCode(ex);
        });
        return root;
    }

    /** Runs {@code args} and returns the exit code. */
    public static int execute(CliEnvironment env, String... args) {
        int code = commandLine(env).execute(args);
        env.out().flush();
        env.err().flush();
        return code;
    }

    private static int exitCode(Throwable t) {
        return t instanceof CommandLine.ParameterException ? ExitCodes.USAGE : Failures.exitCode(t);
    }
}
