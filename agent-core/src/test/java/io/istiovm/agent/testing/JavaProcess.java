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
                "-Distiovm.log.level=error",
                "-cp", System.getProperty("java.class.path"), mainClass.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /** A started process and its output, read line by line. */
    public record Running(Process process, BufferedReader out) {
        /** Returns once the process printed a line equal to {@code line}; fails if it exits first. */
        public void awaitLine(String line) throws IOException {
            awaitLines(line::equals, 1);
        }

        /** Returns once the process printed {@code count} lines that match. */
        public void awaitLines(java.util.function.Predicate<String> matching, int count) throws IOException {
            StringBuilder seen = new StringBuilder();
            int matched = 0;
            while (matched < count) {
                String read = out.readLine();
                if (read == null) {
                    throw new IOException("process exited after " + matched + " of " + count + " lines: " + seen);
                }
                if (matching.test(read)) {
                    matched++;
                } else {
                    seen.append(read).append('\n');
                }
            }
        }
    }

    /** Starts the process with stderr merged into stdout. */
    public static Running start(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        return new Running(process, new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8)));
    }
}
