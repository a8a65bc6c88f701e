package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

class HostProcessesTest {
    @Test
    void findsTheProcessListeningOnALoopbackPort() throws Exception {
        HostProcesses host = HostProcesses.system();
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(host.listenerOf(socket.getLocalPort())).contains(ProcessHandle.current().pid());
            assertThat(host.commandLine(ProcessHandle.current().pid())).hasValueSatisfying(c -> assertThat(c)
                    .contains("java"));
        }
    }

    @Test
    void aFreePortHasNoListener() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        assertThat(HostProcesses.system().listenerOf(port)).isEmpty();
    }
}
