package io.istiovm.agent.cli;

import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * A command that only groups subcommands ({@code istio-vm-agent}, {@code hosts}, {@code iptables}, ...). Run bare,
 * it is a usage error (exit 64) that names the subcommands it has, read from the command tree rather than written
 * out by hand.
 */
abstract class CommandGroup implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        List<String> names = spec.subcommands().values().stream()
                .filter(command -> !command.getCommandSpec().usageMessage().hidden())
                .map(CommandLine::getCommandName)
                .distinct()
                .toList();
        throw new ParameterException(spec.commandLine(), "a subcommand is required: " + String.join(", ", names));
    }
}
