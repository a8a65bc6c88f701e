package io.istiovm.agent.it.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/** The machine a run came from, and the load it started under (figures mean little without them). */
record Machine(String cpuModel, int cores, String kernel, String os, String jdk, Instant date, String loadAtStart) {
    Machine {
        Objects.requireNonNull(cpuModel, "cpuModel");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(os, "os");
        Objects.requireNonNull(jdk, "jdk");
        Objects.requireNonNull(date, "date");
        Objects.requireNonNull(loadAtStart, "loadAtStart");
        if (cores <= 0) {
            throw new IllegalArgumentException("cores " + cores);
        }
    }

    /** This machine, now. */
    static Machine current() throws IOException {
        String cpu = Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8).stream()
                .filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).strip())
                .findFirst().orElse("unknown");
        String kernel = Files.readString(Path.of("/proc/sys/kernel/osrelease"), StandardCharsets.UTF_8).strip();
        String os = osRelease().orElse(System.getProperty("os.name"));
        String jdk = System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version");
        String[] load = Files.readString(Path.of("/proc/loadavg"), StandardCharsets.UTF_8).strip().split(" ");
        return new Machine(cpu, Runtime.getRuntime().availableProcessors(), kernel, os, jdk, Instant.now(),
                load[0] + " " + load[1] + " " + load[2]);
    }

    private static Optional<String> osRelease() throws IOException {
        Path file = Path.of("/etc/os-release");
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        return Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(l -> l.startsWith("PRETTY_NAME="))
                .map(l -> l.substring("PRETTY_NAME=".length()).replace("\"", "")).findFirst();
    }
}
