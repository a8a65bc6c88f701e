package io.istiovm.agent.it.systemd;

import io.istiovm.agent.it.systemd.SystemdContainer.Result;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Host commands for {@link SystemdContainer} and the sandbox: processes with a deadline, cgroups, mounts. */
public final class Host {
    private Host() {
    }

    /** Runs a command to completion with a clean PATH; output captured through files (no pipe can fill up). */
    public static Result run(Duration timeout, String... command) throws IOException, InterruptedException {
        return run(timeout, Map.of(), List.of(command));
    }

    /** As {@link #run(Duration, String...)}, with {@code environment} added to the process's own. */
    public static Result run(Duration timeout, Map<String, String> environment, List<String> command)
            throws IOException, InterruptedException {
        Path out = Files.createTempFile("vmit-out", ".txt");
        Path err = Files.createTempFile("vmit-err", ".txt");
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(
                    Path.of("/dev/null").toFile())).redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            builder.environment().putAll(environment);
            Process process = builder.start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor();
                throw new AssertionError("timed out after " + timeout + ": " + String.join(" ", command));
            }
            return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** {@code first | second}, without a shell; the result is the second's, failing when either failed. */
    static Result pipe(Duration timeout, List<String> first, List<String> second)
            throws IOException, InterruptedException {
        Path err = Files.createTempFile("vmit-err", ".txt");
        try {
            List<Process> processes = ProcessBuilder.startPipeline(List.of(
                    new ProcessBuilder(first).redirectError(err.toFile()),
                    new ProcessBuilder(second).redirectError(ProcessBuilder.Redirect.appendTo(err.toFile()))
                            .redirectOutput(ProcessBuilder.Redirect.DISCARD)));
            int exit = 0;
            for (Process process : processes) {
                if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    processes.forEach(Process::destroyForcibly);
                    throw new AssertionError("timed out after " + timeout + ": " + first + " | " + second);
                }
                exit = exit == 0 ? process.exitValue() : exit;
            }
            return new Result(exit, "", Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /**
     * Starts {@code command} in the background in a cgroup {@code group} of its own in each hierarchy: a shell
     * moves itself there and execs the command (the group is passed as an argument, never spliced into the script).
     */
    static Process inCgroup(String group, List<String> command, Path log) throws IOException {
        return inCgroup(group, command, log, Map.of());
    }

    /** As {@link #inCgroup(String, List, Path)} with {@code environment} added to the command's. */
    static Process inCgroup(String group, List<String> command, Path log, Map<String, String> environment)
            throws IOException {
        List<String> dirs = new ArrayList<>();
        for (Path hierarchy : cgroupHierarchies()) {
            Path dir = hierarchy.resolve(group);
            Files.createDirectories(dir);
            dirs.add(dir.toString());
        }
        List<String> full = new ArrayList<>(List.of("sh", "-c",
                "n=$1; shift; while [ \"$n\" -gt 0 ]; do echo $$ > \"$1/cgroup.procs\" || exit 1; shift; n=$((n-1));"
                        + " done; exec \"$@\"", "sh", Integer.toString(dirs.size())));
        full.addAll(dirs);
        full.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(full).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        builder.environment().putAll(environment);
        return builder.start();
    }

    /**
     * The cgroup hierarchies systemd-nspawn uses: cgroup2 alone on a unified host; on a hybrid/legacy one (this
     * VM: PID 1 is not systemd) the {@code name=systemd} v1 hierarchy and the cgroup2 one beside it.
     */
    static List<Path> cgroupHierarchies() {
        Path base = Path.of("/sys/fs/cgroup");
        if (Files.exists(base.resolve("cgroup.controllers"))) {
            return List.of(base);
        }
        List<Path> found = new ArrayList<>();
        if (Files.isDirectory(base.resolve("systemd"))) {
            found.add(base.resolve("systemd"));
        }
        if (Files.exists(base.resolve("unified/cgroup.procs"))) {
            found.add(base.resolve("unified"));
        }
        return found;
    }

    /** Every file called {@code fileName} in the tree below {@code dir}. */
    static List<Path> listTree(Path dir, String fileName) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(p -> p.getFileName().toString().equals(fileName)).toList();
        }
    }

    /** rmdir of a cgroup tree, deepest first (cgroup directories are removed with rmdir, never with rm). */
    static boolean rmdirTree(Path dir) {
        try (Stream<Path> dirs = Files.walk(dir)) {
            for (Path sub : dirs.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                    .sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(sub);
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Mount points strictly below {@code dir} in this mount namespace, deepest first. */
    static List<String> mountsBelow(Path dir) throws IOException {
        String prefix = dir + "/";
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] fields = line.split(" ");
            if (fields.length > 4 && fields[4].startsWith(prefix)) {
                mounts.add(fields[4]);
            }
        }
        mounts.sort(Comparator.reverseOrder());
        return mounts;
    }
}
