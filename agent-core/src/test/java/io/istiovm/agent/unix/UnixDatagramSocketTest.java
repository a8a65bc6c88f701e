package io.istiovm.agent.unix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UnixDatagramSocketTest {
    @TempDir
    Path dir;

    @Test
    void aDatagramReachesASocketBoundAtAPath() throws Exception {
        UnixAddress address = UnixAddress.path(dir.resolve("notify").toString());
        try (UnixDatagramSocket receiver = UnixDatagramSocket.bind(address);
             UnixDatagramSocket sender = UnixDatagramSocket.open()) {
            sender.send(address, "READY=1\nSTATUS=up".getBytes(StandardCharsets.UTF_8));
            assertThat(receiver.receive(Duration.ofSeconds(5), 4096)).hasValueSatisfying(
                    bytes -> assertThat(new String(bytes, StandardCharsets.UTF_8)).isEqualTo("READY=1\nSTATUS=up"));
            assertThat(Files.exists(dir.resolve("notify"))).isTrue();
        }
    }

    @Test
    void anAbstractNameAsSystemdWritesItLeavesNoFile() throws Exception {
        UnixAddress address = UnixAddress.parse("@istio-vm-agent-test/" + UUID.randomUUID());
        assertThat(address.isAbstract()).isTrue();
        try (UnixDatagramSocket receiver = UnixDatagramSocket.bind(address);
             UnixDatagramSocket sender = UnixDatagramSocket.open()) {
            sender.send(address, new byte[] {'W', 'A', 'T', 'C', 'H', 'D', 'O', 'G', '=', '1'});
            assertThat(receiver.receive(Duration.ofSeconds(5), 64)).hasValueSatisfying(
                    bytes -> assertThat(new String(bytes, StandardCharsets.US_ASCII)).isEqualTo("WATCHDOG=1"));
            assertThat(receiver.receive(Duration.ofMillis(1), 64)).isEmpty();
        }
    }

    @Test
    void sendingWhereNothingListensFailsWithTheErrno() throws Exception {
        try (UnixDatagramSocket sender = UnixDatagramSocket.open()) {
            assertThatThrownBy(() -> sender.send(UnixAddress.path(dir.resolve("none").toString()), new byte[] {1}))
                    .isInstanceOfSatisfying(UnixDatagramSocket.SendFailed.class,
                            e -> assertThat(e.errno()).isEqualTo(2));
        }
    }

    @Test
    void addressesAreCheckedAtConstruction() {
        assertThatThrownBy(() -> UnixAddress.parse("relative")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> UnixAddress.parse("/" + "x".repeat(107)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(UnixAddress.parse("/run/systemd/notify").toString()).isEqualTo("/run/systemd/notify");
    }
}
