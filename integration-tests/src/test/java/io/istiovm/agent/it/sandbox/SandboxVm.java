package io.istiovm.agent.it.sandbox;

import io.istiovm.agent.it.systemd.Host;
import io.istiovm.agent.it.systemd.SystemdContainer.Result;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The sandbox's "vm": the vm network namespace plus a mount namespace of its own in which the directories the
 * agent and the guide write are overlays on the machine's own ({@code /etc}, {@code /var/lib}, {@code /var/log},
 * {@code /run}, {@code /usr/local}) and {@code /dev/shm} is a fresh tmpfs. Inside, the agent runs with its real
 * default paths (/etc/hosts, /etc/certs, /var/lib/istio/envoy, /usr/local/bin/envoy) and the guide's steps
 * ({@code useradd}, {@code cp}, {@code chown -R istio-proxy}) are run word for word, while every write lands in
 * the overlays' upper directories under this sandbox's work directory: the machine's own files never change.
 *
 * <p>The namespaces are held by one small process ({@code sleep infinity} after the mounts); every command enters
 * them with {@code nsenter}. Killing the holder and every process started here ends the mount namespace, and
 * removing the work directory removes all that was written.
 */
final class SandboxVm implements AutoCloseable {
    /** The directories overlaid, each backed by {@code <work>/overlay/<name>/{upper,work}}. */
    private static final List<String> OVERLAID = List.of("/etc", "/var/lib", "/var/log", "/run", "/usr/local");

    private final Path work;
    private final Process holder;
    private final List<Process> started = new ArrayList<>();

    private SandboxVm(Path work, Process holder) {
        this.work = work;
        this.holder = holder;
    }

    /** Enters {@code netns} and builds the mount namespace; returns once the overlays are in place. */
    static SandboxVm create(String netns, Path work) throws IOException, InterruptedException {
        StringBuilder mounts = new StringBuilder("set -e\n");
        for (String dir : OVERLAID) {
            Path base = work.resolve("overlay" + dir.replace('/', '-'));
            Files.createDirectories(base.resolve("upper"));
            Files.createDirectories(base.resolve("work"));
            mounts.append("mount -t overlay sandbox-overlay -o lowerdir=").append(dir).append(",upperdir=")
                    .append(base.resolve("upper")).append(",workdir=").append(base.resolve("work")).append(' ')
                    .append(dir).append('\n');
        }
        mounts.append("mount -t tmpfs -o mode=1777,size=64m sandbox-shm /dev/shm\n")
                .append("echo MOUNTED\n")
                .append("exec sleep infinity\n");
        Process holder = new ProcessBuilder("ip", "netns", "exec", netns, "unshare", "--mount",
                "--propagation", "private", "sh", "-c", mounts.toString())
                .redirectErrorStream(true).start();
        SandboxVm vm = new SandboxVm(work, holder);
        BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (!"MOUNTED".equals(line)) {
            StringBuilder all = new StringBuilder(line == null ? "" : line + "\n");
            holder.waitFor(10, TimeUnit.SECONDS);
            out.lines().forEach(l -> all.append(l).append('\n'));
            vm.close();
            throw new IOException("could not build the vm's mount namespace: " + all);
        }
        return vm;
    }

    /** The words that run {@code command} inside the vm (its network and mount namespaces). */
    List<String> inside(List<String> command) {
        List<String> words = new ArrayList<>(List.of("nsenter", "--target", Long.toString(holder.pid()), "--mount",
                "--net", "--"));
        words.addAll(command);
        return words;
    }

    /** How a user enters the vm from a shell (for {@code --keep}). */
    String enterCommand() {
        return "nsenter --target " + holder.pid() + " --mount --net --";
    }

    /** Runs a command inside the vm to completion ({@link Host#run}: a deadline, the output captured). */
    Result run(Duration timeout, String... command) throws IOException, InterruptedException {
        return run(timeout, Map.of(), command);
    }

    Result run(Duration timeout, Map<String, String> environment, String... command)
            throws IOException, InterruptedException {
        return Host.run(timeout, environment, inside(List.of(command)));
    }

    /** A shell command inside the vm ({@code sh -c}). */
    Result shell(Duration timeout, String script) throws IOException, InterruptedException {
        return run(timeout, "sh", "-c", script);
    }

    /** Starts a long-running process inside the vm, its output appended to {@code log}; stopped by {@link #close}. */
    Process start(Path log, Map<String, String> environment, String... command) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(inside(List.of(command))).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        builder.environment().putAll(environment);
        Process process = builder.start();
        started.add(process);
        return process;
    }

    /** Writes a file inside the vm (through its overlays) with {@code mode}, owned by root. */
    void writeFile(String path, String content, String mode) throws IOException, InterruptedException {
        Path staged = Files.createTempFile(work, "staged-", ".tmp");
        try {
            Files.writeString(staged, content);
            run(Duration.ofSeconds(10), "install", "-D", "-m", mode, "-o", "root", "-g", "root", staged.toString(),
                    path).ok();
        } finally {
            Files.deleteIfExists(staged);
        }
    }

    /** A file's content inside the vm. */
    String readFile(String path) throws IOException, InterruptedException {
        return run(Duration.ofSeconds(10), "cat", path).ok().out();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (Process process : started) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
        holder.destroyForcibly();
        holder.waitFor(30, TimeUnit.SECONDS);
    }
}
