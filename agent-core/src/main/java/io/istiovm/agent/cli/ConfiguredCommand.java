package io.istiovm.agent.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;

/**
 * A command that reads the configuration: the environment it runs in and the {@code --config-dir} option. What it
 * throws is printed and mapped to the exit code by {@link Failures}.
 */
abstract class ConfiguredCommand implements Callable<Integer> {
    final CliEnvironment env;

    @Mixin
    ConfigOptions config;

    ConfiguredCommand(CliEnvironment env) {
        this.env = env;
    }
}
