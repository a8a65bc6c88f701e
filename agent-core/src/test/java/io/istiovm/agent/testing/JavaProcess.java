package io.istiovm.agent.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts a main class of this test class path as a separate JVM (tuned to start fast), for tests that must kill a
 * real process. The child inherits nothing but its arguments.
 */
public final class JavaProcess {
    private JavaProcess() {
    }

    /** The command line that runs {@code mainClass} with this JVM's class path. */
    public static List<String> command(Class<?> mainClass, String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-Xmx64m",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                "-cp", System.getProperty("java.class.path"), mainClass.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /** Starts the process (stderr merged into stdout) and returns once it printed {@code line}. */
    public static Process startAndAwaitLine(List<String> command, String line) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        for (String read = out.readLine(); read != null; read = out.readLine()) {
            if (read.equals(line)) {
                return process;
            }
            seen.append(read).append('\n');
        }
        throw new IOException("process exited before printing '" + line + "': " + seen);
    }
}
