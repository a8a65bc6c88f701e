package io.istiovm.agent.netfilter;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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
            CompletableFuture<byte[]> out = drain(process.getInputStream());
            CompletableFuture<byte[]> err = drain(process.getErrorStream());
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
                return new Result(List.copyOf(command), process.exitValue(),
                        new String(out.join(), StandardCharsets.UTF_8), new String(err.join(), StandardCharsets.UTF_8));
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while running " + command.get(0), e);
            }
        };
    }

    private static CompletableFuture<byte[]> drain(InputStream stream) {
        return CompletableFuture.supplyAsync(() -> {
            try (stream) {
                ByteArrayOutputStream buffer = new ByteArrayOutputStream();
                stream.transferTo(buffer);
                return buffer.toByteArray();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
