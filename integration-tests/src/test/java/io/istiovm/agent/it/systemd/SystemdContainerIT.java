package io.istiovm.agent.it.systemd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.VmPeerNetwork;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The harness itself: a booted container is real systemd with its own journal and network namespace, and teardown
 * leaves nothing on the host (no tmpfs, cgroup, veth or lock).
 */
class SystemdContainerIT {
    private static final Path ARTIFACTS = Path.of(System.getProperty("repo.root", ".."), "integration-tests",
            "target", "systemd-it").toAbsolutePath().normalize();

    @Test
    void bootsRealSystemdInItsOwnNetworkNamespaceAndLeavesNothingBehind() throws Exception {
        String name;
        try (SystemdContainer box = SystemdContainer.boot(List.of(), ARTIFACTS)) {
            name = box.name();
            System.out.println("systemd container timings: " + box.timings());
            assertThat(box.exec("readlink", "/proc/1/exe").ok().out().strip()).endsWith("systemd");
            assertThat(box.exec("systemctl", "is-system-running").out().strip()).isEqualTo("running");
            assertThat(box.exec("ip", "-o", "-4", "addr", "show", "host0").ok().out())
                    .contains(box.containerAddress() + "/30");
            box.writeFile("/etc/systemd/system/vmit-echo.service", "[Service]\nType=oneshot\n"
                    + "ExecStart=/bin/echo hello-from-the-journal\n", "rw-r--r--");
            box.exec("systemctl", "daemon-reload").ok();
            box.exec("systemctl", "start", "vmit-echo.service").ok();
            assertThat(box.journal("vmit-echo.service", "-o", "cat")).contains("hello-from-the-journal");
            // A rule in the container's netns is not on the host.
            box.exec("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-j", "RETURN").ok();
            assertThat(box.exec("iptables-save", "-t", "nat").ok().out()).contains("--dport 9");
            assertThat(Host.run(java.time.Duration.ofSeconds(10), "iptables-save", "-t", "nat").out())
                    .doesNotContain("--dport 9 -j RETURN");
        }
        assertThat(Path.of("/var/lib/machines", name)).doesNotExist();
        for (Path hierarchy : Host.cgroupHierarchies()) {
            assertThat(hierarchy.resolve(name)).doesNotExist();
        }
        assertThat(Path.of(SystemdContainer.STATE_DIR, name + ".lock")).doesNotExist();
        assertThat(Host.run(java.time.Duration.ofSeconds(10), "ip", "link", "show", "ve-" + name).exit()).isNotZero();
        assertThat(Files.readAllLines(Path.of("/proc/self/mountinfo"))).noneMatch(l -> l.contains("/" + name + " "));
    }

    /**
     * The sandbox's shape: the container joins a namespace made by the caller (VmPeerNetwork's vm, its veth to the
     * peer), so its traffic goes only to the peer namespace, and no veth is made on the host.
     */
    @Test
    void bootsIntoANetworkNamespaceMadeByTheCallerWithNoVethOnTheHost() throws Exception {
        try (VmPeerNetwork network = VmPeerNetwork.create()) {
            network.listenOn(network.peer(), "peer", VmPeerNetwork.PEER_IPV4, 8000);
            String name;
            try (SystemdContainer box = SystemdContainer.bootInNamespace(List.of(), ARTIFACTS, network.vm())) {
                name = box.name();
                assertThat(box.exec("systemctl", "is-system-running").out().strip()).isEqualTo("running");
                assertThat(box.exec("ip", "-o", "-4", "addr", "show").ok().out())
                        .contains(VmPeerNetwork.VM_IPV4 + "/24");
                assertThat(Host.run(Duration.ofSeconds(10), "ip", "link", "show", "ve-" + name).exit()).isNotZero();
                // bash's /dev/tcp: the rootfs has no nc or curl; the listener answers with what it saw.
                String answer = box.exec("bash", "-c", "exec 3<>/dev/tcp/" + VmPeerNetwork.PEER_IPV4
                        + "/8000 && head -n 1 <&3").ok().out();
                assertThat(answer).isEqualTo("peer " + VmPeerNetwork.PEER_IPV4 + ":8000\n");
                assertThatThrownBy(box::hostAddress).isInstanceOf(IllegalStateException.class);
            }
            assertThat(Path.of("/var/lib/machines", name)).doesNotExist();
        }
    }

    /** What a SIGKILLed run leaves: its tmpfs rootfs, its cgroups with a process in them, an unheld lock file. */
    @Test
    void aNewRunRemovesTheLeftoversOfAKilledOne() throws Exception {
        String stale = SystemdContainer.PREFIX + "0";
        Path root = Path.of("/var/lib/machines", stale);
        Files.createDirectories(root);
        Host.run(Duration.ofSeconds(10), "mount", "-t", "tmpfs", "vmit-stale", root.toString()).ok();
        Files.writeString(root.resolve("left-behind"), "x");
        Files.createDirectories(ARTIFACTS);
        Process orphan = Host.inCgroup(stale, List.of("sleep", "600"), ARTIFACTS.resolve("stale.log"));
        Files.createDirectories(Path.of(SystemdContainer.STATE_DIR));
        Files.writeString(Path.of(SystemdContainer.STATE_DIR, stale + ".lock"), "");
        try {
            SystemdContainer.awaitTrue("the orphan is in its cgroup", Duration.ofSeconds(10), () -> {
                try {
                    return Files.readString(Path.of("/proc", Long.toString(orphan.pid()), "cgroup")).contains(stale);
                } catch (java.io.IOException e) {
                    return false;
                }
            });

            SystemdContainer.cleanupStale();

            assertThat(orphan.waitFor(10, TimeUnit.SECONDS)).as("the orphan was killed").isTrue();
            assertThat(root).doesNotExist();
            for (Path hierarchy : Host.cgroupHierarchies()) {
                assertThat(hierarchy.resolve(stale)).doesNotExist();
            }
            assertThat(Path.of(SystemdContainer.STATE_DIR, stale + ".lock")).doesNotExist();
        } finally {
            orphan.destroyForcibly();
            SystemdContainer.cleanupInstance(stale);
        }
    }
}
