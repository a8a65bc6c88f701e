package io.istiovm.agent.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs commands in private mount namespaces where /etc/hosts is a temporary file, never the machine's own.
 * Each command gets a fresh namespace ({@code unshare -m --propagation private}, so no mount leaks out) in which
 * /etc is an overlay whose writes land in a temporary directory (the agent's temporary and journal files included),
 * and {@link #hostsFile()} is bind-mounted over /etc/hosts, as container runtimes do. The mounts must succeed before
 * the command runs. The temporary file outlives each namespace, so state carries from one command to the next.
 * Needs root.
 */
public final class HostsMountNamespace implements AutoCloseable {
    /** Exit code of a namespace whose mounts failed; the command never ran. */
    public static final int SETUP_FAILED = 97;
    private static final String SETUP = "mount -t overlay overlay "
            + "-o lowerdir=/etc,upperdir=\"$NS_DIR/upper\",workdir=\"$NS_DIR/work\" /etc || exit " + SETUP_FAILED + "; "
            + "mount --bind \"$NS_DIR/hosts\" /etc/hosts || exit " + SETUP_FAILED + "; ";

    private final Path directory;

    private HostsMountNamespace(Path directory) {
        this.directory = directory;
    }

    /** A namespace template whose /etc/hosts starts with {@code initialHosts}. */
    public static HostsMountNamespace create(String initialHosts) throws IOException {
        Path directory = Files.createTempDirectory("hosts-mountns");
        Files.createDirectories(directory.resolve("upper"));
        Files.createDirectories(directory.resolve("work"));
        Files.writeString(directory.resolve("hosts"), initialHosts, StandardCharsets.UTF_8);
        return new HostsMountNamespace(directory);
    }

    /** The file that is /etc/hosts inside the namespaces, as seen from outside. */
    public Path hostsFile() {
        return directory.resolve("hosts");
    }

    /** A process builder that runs {@code script} (sh) inside a fresh namespace; {@code exec} keeps the pid. */
    public ProcessBuilder builder(String script) {
        ProcessBuilder builder = new ProcessBuilder(List.of("unshare", "-m", "--propagation", "private",
                "sh", "-c", SETUP + script));
        // Nothing from the test's own environment may point the agent at another file.
        builder.environment().keySet().removeIf(k -> k.startsWith("ISTIO") || k.startsWith("VM_AGENT"));
        builder.environment().put("NS_DIR", directory.toString());
        return builder;
    }

    /** What a finished command printed. */
    public record Result(int code, String out, String err) {
    }

    /** Runs {@code script} in a fresh namespace to completion. */
    public Result run(String script, Duration timeout) throws IOException, InterruptedException {
        Path out = Files.createTempFile(directory, "out", ".txt");
        Path err = Files.createTempFile(directory, "err", ".txt");
        Process process = builder(script).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("not finished within " + timeout + ": " + script + "\n" + Files.readString(err));
        }
        Result result = new Result(process.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return result;
    }

    /** Runs {@code command} inside the mount namespace of the running process {@code pid}. */
    public static Result enter(long pid, Duration timeout, String... command) throws IOException, InterruptedException {
        List<String> all = new ArrayList<>(List.of("nsenter", "-t", Long.toString(pid), "-m", "--"));
        all.addAll(List.of(command));
        Process process = new ProcessBuilder(all).start();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("not finished within " + timeout + ": " + all);
        }
        return new Result(process.exitValue(), new String(process.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8), new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
