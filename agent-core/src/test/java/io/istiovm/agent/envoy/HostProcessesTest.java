package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

class HostProcessesTest {
    private static final HostProcesses HOST = HostProcesses.on(java.nio.file.Path.of("/proc"),
            java.nio.file.Path.of("/etc/passwd"));

    @Test
    void findsTheProcessListeningOnALoopbackPort() throws Exception {
        HostProcesses host = HOST;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(host.listenerOf(socket.getLocalPort())).contains(ProcessHandle.current().pid());
            assertThat(host.identity(ProcessHandle.current().pid())).hasValueSatisfying(id -> assertThat(
                    id.executable()).isEqualTo(ProcessHandle.current().info().command().orElseThrow()));
        }
    }

    @Test
    void aFreePortHasNoListener() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        assertThat(HOST.listenerOf(port)).isEmpty();
    }

    @Test
    void readsTheOomKillCounterOfCgroupV1AndV2(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path proc = java.nio.file.Files.createDirectories(dir.resolve("proc/self"));
        java.nio.file.Path sys = dir.resolve("cgroup");
        java.nio.file.Files.writeString(proc.resolve("cgroup"), "4:memory:/system.slice/agent.service\n0::/\n");
        java.nio.file.Files.createDirectories(sys.resolve("memory/system.slice/agent.service"));
        java.nio.file.Files.writeString(sys.resolve("memory/system.slice/agent.service/memory.oom_control"),
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assertThat(new HostProcesses(dir.resolve("proc"), dir.resolve("passwd"), sys).oomKills()).hasValue(3);

        java.nio.file.Files.writeString(proc.resolve("cgroup"), "0::/system.slice/agent.service\n");
        java.nio.file.Files.writeString(sys.resolve("cgroup.controllers"), "memory pids\n");
        java.nio.file.Files.createDirectories(sys.resolve("system.slice/agent.service"));
        java.nio.file.Files.writeString(sys.resolve("system.slice/agent.service/memory.events"),
                "low 0\nhigh 0\nmax 2\noom 2\noom_kill 2\n");
        assertThat(new HostProcesses(dir.resolve("proc"), dir.resolve("passwd"), sys).oomKills()).hasValue(2);
    }

    @Test
    void aProcessIsIdentifiedByStartTimeAndExecutableNotItsCommandLine(@org.junit.jupiter.api.io.TempDir
            java.nio.file.Path dir) throws Exception {
        java.nio.file.Path pid = java.nio.file.Files.createDirectories(dir.resolve("proc/4321"));
        // The command name may hold spaces and parentheses: fields are counted after the last ')'.
        java.nio.file.Files.writeString(pid.resolve("stat"), "4321 (envoy ) x (y) S 1 4321 4321 0 -1 4194560 "
                + "100 0 0 0 5 3 0 0 20 0 12 0 987654 123456 789 18446744073709551615\n");
        java.nio.file.Files.createSymbolicLink(pid.resolve("exe"), java.nio.file.Path.of("/usr/local/bin/envoy (deleted)"));
        java.nio.file.Files.writeString(pid.resolve("cmdline"), "/usr/local/bin/envoy\0--restart-epoch\0");
        HostProcesses host = new HostProcesses(dir.resolve("proc"), dir.resolve("passwd"), dir);
        assertThat(host.identity(4321)).contains(new ProcessIdentity(4321, 987654, "/usr/local/bin/envoy"));
        assertThat(host.identity(4322)).isEmpty();
        assertThat(ProcessIdentity.parse(new ProcessIdentity(7, 9, "/opt/my envoy").line()))
                .isEqualTo(new ProcessIdentity(7, 9, "/opt/my envoy"));
    }
}
