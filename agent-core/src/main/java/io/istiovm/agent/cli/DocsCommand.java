package io.istiovm.agent.cli;

import io.istiovm.agent.config.ConfigTable;
import picocli.CommandLine.Command;

@Command(name = "config-table", mixinStandardHelpOptions = true,
        description = "Print the configuration table (Markdown) that README.md carries.")
final class DocsCommand implements Runnable {
    private final CliEnvironment env;

    DocsCommand(CliEnvironment env) {
        this.env = env;
    }

    @Override
    public void run() {
        env.out().print(ConfigTable.markdown());
        env.out().flush();
    }
}
