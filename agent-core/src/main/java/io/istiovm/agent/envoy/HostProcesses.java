package io.istiovm.agent.envoy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * What the host says about processes, users and sockets, read from its files (the assembly's host paths; tests
 * give a scratch tree): the agent's own uid, Envoy's user from passwd, who listens on a loopback TCP port, what
 * identifies a process across pid reuse (to recognise an Envoy left by a previous agent), and the cgroup's
 * OOM-kill counter.
 */
public final class HostProcesses {
    /** Where the cgroup file systems are mounted; only the OOM counter reads it, and it has no other place. */
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    private final Path proc;
    private final Path passwd;
    private final Path cgroupRoot;

    HostProcesses(Path proc, Path passwd, Path cgroupRoot) {
        this.proc = proc;
        this.passwd = passwd;
        this.cgroupRoot = cgroupRoot;
    }

    /** The host whose process table is {@code proc} and whose users are in {@code passwd}. */
    public static HostProcesses on(Path proc, Path passwd) {
        return new HostProcesses(proc, passwd, CGROUP_ROOT);
    }

    /** The uid the agent runs as (the owner of {@code /proc/self}). */
    public long currentUid() throws IOException {
        return ((Number) Files.getAttribute(proc.resolve("self"), "unix:uid")).longValue();
    }

    /** {@code user}'s uid and gid, from passwd (see {@link ProcessUser#resolve}). */
    public ProcessUser user(io.istiovm.agent.config.UserRef user) throws IOException {
        return ProcessUser.resolve(user, passwd);
    }

    /** The pid of a process with a socket listening on TCP {@code port} (IPv4 or IPv6), if any. */
    Optional<Long> listenerOf(int port) throws IOException {
        Set<String> inodes = new HashSet<>();
        for (String table : List.of("net/tcp", "net/tcp6")) {
            Path file = proc.resolve(table);
            if (!Files.exists(file)) {
                continue;
            }
            for (String line : Files.readAllLines(file)) {
                String[] f = line.trim().split("\\s+");
                // local_address is hex ip:port; st 0A is LISTEN; inode is field 9.
                if (f.length > 9 && f[1].endsWith(":" + String.format("%04X", port)) && f[3].equals("0A")) {
                    inodes.add(f[9]);
                }
            }
        }
        if (inodes.isEmpty()) {
            return Optional.empty();
        }
        try (DirectoryStream<Path> pids = Files.newDirectoryStream(proc, p -> p.getFileName().toString()
                .chars().allMatch(Character::isDigit))) {
            for (Path pid : pids) {
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(pid.resolve("fd"))) {
                    for (Path fd : fds) {
                        String target = Files.readSymbolicLink(fd).toString();
                        if (target.startsWith("socket:[") && inodes.contains(target.substring(8,
                                target.length() - 1))) {
                            return Optional.of(Long.parseLong(pid.getFileName().toString()));
                        }
                    }
                } catch (IOException e) {
                    // The process exited while we looked, or it is not ours to read.
                }
            }
        }
        return Optional.empty();
    }

    /**
     * What identifies process {@code pid} across pid reuse: its start time in clock ticks since boot (field 22 of
     * {@code /proc/PID/stat}, counted after the command name, which may itself hold spaces and parentheses) and
     * its executable ({@code /proc/PID/exe}, without the {@code " (deleted)"} the kernel appends once the file was
     * replaced, as a package upgrade does). Empty when the process is gone or not readable.
     */
    Optional<ProcessIdentity> identity(long pid) {
        Path dir = proc.resolve(Long.toString(pid));
        try {
            String stat = new String(readLimited(dir.resolve("stat"), 4096), StandardCharsets.US_ASCII);
            int close = stat.lastIndexOf(')');
            if (close < 0) {
                return Optional.empty();
            }
            // After ")": state is field 3, so starttime (field 22) is the 20th of the rest.
            String[] rest = stat.substring(close + 1).trim().split("\\s+");
            if (rest.length < 20) {
                return Optional.empty();
            }
            long start = Long.parseLong(rest[19]);
            String exe = Files.readSymbolicLink(dir.resolve("exe")).toString();
            if (exe.endsWith(" (deleted)")) {
                exe = exe.substring(0, exe.length() - " (deleted)".length());
            }
            return Optional.of(new ProcessIdentity(pid, start, exe));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static byte[] readLimited(Path file, int limit) throws IOException {
        try (java.io.InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(limit);
        }
    }

    /**
     * The {@code oom_kill} count of this process's memory cgroup: {@code memory.events} on cgroup v2,
     * {@code memory.oom_control} on v1. Envoy runs in the agent's cgroup, so its OOM kills count here.
     */
    OptionalLong oomKills() {
        List<String> lines;
        try {
            lines = Files.readAllLines(proc.resolve("self/cgroup"));
        } catch (IOException e) {
            return OptionalLong.empty();
        }
        for (String line : lines) {
            String[] f = line.split(":", 3);
            if (f.length < 3) {
                continue;
            }
            String path = f[2].replaceFirst("^/", "");
            if (f[1].equals("memory")) {
                OptionalLong count = oomKill(cgroupRoot.resolve("memory").resolve(path).resolve("memory.oom_control"));
                // Inside a container the memory hierarchy is often mounted at the container's own cgroup.
                return count.isPresent() ? count : oomKill(cgroupRoot.resolve("memory/memory.oom_control"));
            }
            if (f[0].equals("0") && f[1].isEmpty() && Files.exists(cgroupRoot.resolve("cgroup.controllers"))) {
                OptionalLong count = oomKill(cgroupRoot.resolve(path).resolve("memory.events"));
                return count.isPresent() ? count : oomKill(cgroupRoot.resolve("memory.events"));
            }
        }
        return OptionalLong.empty();
    }

    private static OptionalLong oomKill(Path file) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith("oom_kill ")) {
                    return OptionalLong.of(Long.parseLong(line.substring(9).trim()));
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }
}
