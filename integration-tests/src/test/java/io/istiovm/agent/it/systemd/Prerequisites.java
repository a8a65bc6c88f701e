package io.istiovm.agent.it.systemd;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the host must have for {@link SystemdContainer}. A missing piece fails the test with the Debian package to
 * install: these tests are an issue's acceptance and must never pass by being skipped.
 */
final class Prerequisites {
    /** Command -> the Debian package that provides it on the host. */
    private static final Map<String, String> COMMANDS = Map.of(
            "debootstrap", "debootstrap",
            "systemd-nspawn", "systemd-container",
            "zstd", "zstd",
            "nsenter", "util-linux",
            "ip", "iproute2",
            "tar", "tar",
            "journalctl", "systemd");

    private Prerequisites() {
    }

    static void check() {
        List<String> problems = new ArrayList<>();
        if (!"root".equals(System.getProperty("user.name"))) {
            problems.add("must run as root (it mounts, makes cgroups and boots a container)");
        }
        for (var entry : COMMANDS.entrySet()) {
            if (!onPath(entry.getKey())) {
                problems.add("command " + entry.getKey() + " missing: apt-get install " + entry.getValue());
            }
        }
        if (Host.cgroupHierarchies().isEmpty()) {
            problems.add("no cgroup hierarchy for systemd-nspawn under /sys/fs/cgroup");
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("the systemd container cannot run here:\n  " + String.join("\n  ", problems));
        }
    }

    private static boolean onPath(String command) {
        for (String dir : List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}
