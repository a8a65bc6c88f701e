package io.istiovm.agent.systemd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** sd_notify's wire format (systemd 252's sd-daemon.c) against sockets the test binds. */
class NotifierTest {

    @Test
    void sendsNewlineSeparatedAssignmentsAsOneDatagramToAPath() throws Exception {
        try (NotifySocket systemd = NotifySocket.path();
             Notifier notifier = Notifier.fromEnvironment(Map.of("NOTIFY_SOCKET", systemd.env()))) {
            assertThat(notifier.enabled()).isTrue();
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("READY", "1");
            fields.put("STATUS", "ready: spiffe://cluster.local/ns/vm/sa/default");
            notifier.send(fields);
            assertThat(systemd.next()).isEqualTo("READY=1\nSTATUS=ready: spiffe://cluster.local/ns/vm/sa/default");
            assertThat(systemd.queued()).isEmpty();
        }
    }

    @Test
    void reachesAnAbstractSocketNamedWithAnAt() throws Exception {
        try (NotifySocket systemd = NotifySocket.abstractName();
             Notifier notifier = Notifier.fromEnvironment(Map.of("NOTIFY_SOCKET", systemd.env()))) {
            assertThat(systemd.env()).startsWith("@");
            notifier.send("WATCHDOG", "1");
            assertThat(systemd.next()).isEqualTo("WATCHDOG=1");
        }
    }

    @Test
    void withoutNotifySocketNothingIsSentAndNothingFails() throws Exception {
        try (Notifier notifier = Notifier.fromEnvironment(Map.of())) {
            assertThat(notifier.enabled()).isFalse();
            notifier.send("READY", "1");
        }
    }

    @Test
    void aRelativeNotifySocketIsRefusedAsSdNotifyRefusesIt() throws Exception {
        try (Notifier notifier = Notifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "run/notify"))) {
            assertThat(notifier.enabled()).isFalse();
        }
    }

    @Test
    void aVanishedSocketIsLoggedNotThrown() throws Exception {
        NotifySocket systemd = NotifySocket.path();
        try (Notifier notifier = Notifier.to(systemd.address())) {
            systemd.close();
            notifier.send("WATCHDOG", "1");
            notifier.send("WATCHDOG", "1");
        }
    }

    @Test
    void aValueWithANewlineCannotSmuggleAnotherAssignment() {
        assertThatThrownBy(() -> Notifier.format(Map.of("STATUS", "fine\nREADY=1")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Notifier.format(Map.of("status", "x"))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Notifier.format(Map.of("STATUS", "x".repeat(Notifier.MAX_DATAGRAM))))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
