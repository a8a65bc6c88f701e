package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.Await;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * A fixture that holds the first Envoy launch at a gate: a wrapper around the stand-in's binary that, on its first
 * run, marks itself waiting and blocks reading a FIFO until the test opens it; later launches (restarts, hot
 * restarts) go straight through. What the agent does while Envoy is launched but not yet running is then a state
 * the test can hold for as long as it looks.
 */
final class EnvoyGate {
    private final Path dir;
    private final Path binary;

    /**
     * A gate in the stand-in's shared-memory directory (Envoy's user writes the markers there; the FIFO is the
     * test's), with {@code environment} lines ("NAME=value") exported to the stand-in.
     */
    EnvoyGate(EnvoyStandInFixture standIn, String... environment) throws IOException, InterruptedException {
        dir = standIn.shmDir();
        Process mkfifo = new ProcessBuilder("mkfifo", "-m", "0666", dir.resolve("gate").toString()).start();
        assertThat(mkfifo.waitFor()).isZero();
        binary = standIn.dir().resolve("bin/gated-envoy");
        StringBuilder script = new StringBuilder("#!/bin/sh\n"
                + "# The first launch waits until the test opens the gate.\n"
                + "if [ ! -e '" + dir.resolve("released") + "' ]; then\n"
                + "  : > '" + dir.resolve("waiting") + "'\n"
                + "  read line < '" + dir.resolve("gate") + "'\n"
                + "  : > '" + dir.resolve("released") + "'\n"
                + "fi\n");
        for (String line : environment) {
            String name = line.substring(0, line.indexOf('='));
            script.append(line).append('\n').append("export ").append(name).append('\n');
        }
        script.append("exec '").append(standIn.binary()).append("' \"$@\"\n");
        Files.writeString(binary, script);
        Files.setPosixFilePermissions(binary, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** What VM_AGENT_ENVOY_BINARY names. */
    Path binary() {
        return binary;
    }

    /** Waits until Envoy was launched and is held at the gate; {@code context} explains a timeout. */
    void awaitHeld(Duration deadline, Supplier<String> context) throws Exception {
        Await.until("Envoy launched and held at the gate", deadline, () -> Files.exists(dir.resolve("waiting")),
                context);
    }

    /** Lets the held launch go on. */
    void open() throws IOException {
        try (Writer gate = Files.newBufferedWriter(dir.resolve("gate"))) {
            gate.write("go\n");
        }
    }
}
