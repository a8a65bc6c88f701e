package io.istiovm.agent.netfilter;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs an external program to completion; the seam where tests put a network namespace or a failing tool. */
public interface CommandRunner {

    record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** {@code 'iptables-restore --noflush' exited 1: <stderr>} */
        public String describe() {
            String err = stderr.strip();
            return "'" + String.join(" ", command) + "' exited " + exitCode + (err.isEmpty() ? "" : ": " + err);
        }
    }

    /** Runs {@code command} with {@code stdin} (may be empty); kills it if it runs longer than {@code timeout}. */
    Result run(List<String> command, String stdin, Duration timeout) throws IOException;

    /** Real processes; the program is killed at the deadline (iptables-restore has hung at start, istio#29249). */
    static CommandRunner processes() {
        return (command, stdin, timeout) -> {
            Process process = new ProcessBuilder(command).start();
            // Both streams drain on their own threads, so a full pipe cannot stall the program and a hung
            // program cannot stall the caller past the deadline.
            Drain out = new Drain(process.getInputStream());
            Drain err = new Drain(process.getErrorStream());
            try (OutputStream in = process.getOutputStream()) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                // The program may exit without reading its input; its exit code tells what happened.
            }
            try {
                if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly();
                    process.waitFor();
                    throw new IOException("'" + String.join(" ", command) + "' did not finish within " + timeout
                            + " and was killed");
                }
                return new Result(List.copyOf(command), process.exitValue(), out.text(), err.text());
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while running " + command.get(0), e);
            }
        };
    }

    /** Reads a stream to its end on a thread of its own. */
    final class Drain {
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private final Thread thread;

        Drain(InputStream stream) {
            thread = new Thread(() -> {
                try (stream) {
                    stream.transferTo(buffer);
                } catch (IOException e) {
                    // The stream closes when the program ends; what was read is what there is.
                }
            }, "command-output");
            thread.setDaemon(true);
            thread.start();
        }

        String text() throws InterruptedException {
            thread.join();
            return buffer.toString(StandardCharsets.UTF_8);
        }
    }
}
