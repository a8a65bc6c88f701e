package io.istiovm.agent.envoy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * Which Envoy a binary is: its {@code --version} line, its {@code --hot-restart-version} (two epochs can hand over
 * only when these are equal: the shared-memory layout and the RPC between them), and whether it is an Istio proxy
 * build. istiod sends Istio's own filters ({@code io.istio.http.peer_metadata}, {@code istio.metadata_exchange},
 * {@code istio.stats}); an upstream Envoy rejects every listener that uses them. An Istio build registers those
 * names, so they are in the binary as strings; the version line alone does not tell (both say
 * {@code <sha>/1.x.y/Clean/RELEASE/BoringSSL}, the Istio build with a {@code -dev} suffix, as of Istio 1.20-1.24).
 */
record EnvoyBuild(Optional<String> version, Optional<String> hotRestartVersion, boolean istio) {
    /** Filter names only an Istio proxy build registers. */
    static final List<String> ISTIO_EXTENSIONS = List.of("io.istio.http.peer_metadata", "istio.metadata_exchange");
    private static final int OUTPUT_LIMIT = 4096;
    private static final long BINARY_SCAN_LIMIT = 1L << 30;

    /**
     * Runs {@code binary --version} and {@code binary --hot-restart-version} through {@code wrap} (setpriv to
     * Envoy's user, as Envoy itself runs), each for at most {@code timeout}, and scans the binary for Istio's
     * extension names. What cannot be learned is empty (a probe that fails is no reason not to run Envoy).
     */
    static EnvoyBuild probe(Path binary, UnaryOperator<List<String>> wrap, Duration timeout) {
        Optional<String> version = run(wrap.apply(List.of(binary.toString(), "--version")), timeout);
        Optional<String> hotRestart = run(wrap.apply(List.of(binary.toString(), "--hot-restart-version")), timeout);
        return new EnvoyBuild(version, hotRestart, containsAny(binary, ISTIO_EXTENSIONS));
    }

    /** One line for the log: the version, the hot-restart version and the kind of build. */
    String describe() {
        return version.orElse("version unknown") + ", hot-restart version " + hotRestartVersion.orElse("unknown")
                + (istio ? ", an Istio proxy build" : ", NOT an Istio proxy build");
    }

    /** The first non-empty line of the command's output, bounded; empty on failure, exit status != 0 or timeout. */
    static Optional<String> run(List<String> command, Duration timeout) {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        } catch (IOException e) {
            return Optional.empty();
        }
        try (InputStream out = process.getInputStream()) {
            List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread reader = new Thread(() -> {
                try {
                    new BoundedLines(OUTPUT_LIMIT).read(out, line -> {
                        if (lines.size() < 16) {
                            lines.add(line);
                        }
                    });
                } catch (IOException e) {
                    // the process is gone
                }
            }, "envoy-probe");
            reader.setDaemon(true);
            reader.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                return Optional.empty();
            }
            reader.join(timeout.toMillis());
            if (process.exitValue() != 0) {
                return Optional.empty();
            }
            synchronized (lines) {
                return lines.stream().map(String::strip).filter(l -> !l.isEmpty()).findFirst();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            return Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** True when the file holds any of {@code needles} (ASCII), read in chunks that overlap by the longest. */
    static boolean containsAny(Path file, List<String> needles) {
        int overlap = needles.stream().mapToInt(String::length).max().orElse(0);
        try (InputStream in = Files.newInputStream(file)) {
            byte[] chunk = new byte[1 << 20];
            String carry = "";
            long read = 0;
            int n;
            while ((n = in.readNBytes(chunk, 0, chunk.length)) > 0 && read < BINARY_SCAN_LIMIT) {
                read += n;
                String text = carry + new String(chunk, 0, n, StandardCharsets.ISO_8859_1);
                for (String needle : needles) {
                    if (text.contains(needle)) {
                        return true;
                    }
                }
                carry = text.substring(Math.max(0, text.length() - overlap));
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }
}
