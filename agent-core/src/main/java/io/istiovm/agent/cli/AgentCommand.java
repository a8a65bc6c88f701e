package io.istiovm.agent.cli;

import picocli.CommandLine.Command;

@Command(name = "istio-vm-agent",
        mixinStandardHelpOptions = true,
        versionProvider = VersionCommand.Provider.class,
        exitCodeOnInvalidInput = ExitCodes.USAGE,
        exitCodeOnExecutionException = ExitCodes.SOFTWARE,
        description = "Joins this VM to an Istio mesh: configuration, identity, traffic capture, /etc/hosts, Envoy.",
        footerHeading = "%nExit codes:%n",
        footer = {
            "  0   success",
            "  1   verify found a difference",
            "  64  usage error (unknown command or flag)",
            "  65  invalid certificate or key files (every problem is listed)",
            "  66  cluster.env not found",
            "  69  the CA could not be reached or refused the request",
            "  70  internal error",
            "  71  the system refused an operation",
            "  74  I/O error",
            "  78  invalid configuration (every problem is listed)"})
final class AgentCommand extends CommandGroup {
}
