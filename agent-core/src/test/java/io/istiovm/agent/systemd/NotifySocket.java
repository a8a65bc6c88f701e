package io.istiovm.agent.systemd;

import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Stands in for systemd's notify socket: a datagram socket the test binds, at a short path or abstract name. Public
 * for the integration tests' benchmark suite, which listens for the packaged agent's READY=1.
 */
public final class NotifySocket implements AutoCloseable {
    private final UnixAddress address;
    private final UnixDatagramSocket socket;
    private final Path directory;

    private NotifySocket(UnixAddress address, UnixDatagramSocket socket, Path directory) {
        this.address = address;
        this.socket = socket;
        this.directory = directory;
    }

    public static NotifySocket path() throws IOException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "x-n");
        UnixAddress address = UnixAddress.path(dir.resolve("notify").toString());
        return new NotifySocket(address, UnixDatagramSocket.bind(address), dir);
    }

    static NotifySocket abstractName() throws IOException {
        UnixAddress address = new UnixAddress("x-notify-" + UUID.randomUUID(), true);
        return new NotifySocket(address, UnixDatagramSocket.bind(address), null);
    }

    UnixAddress address() {
        return address;
    }

    /** $NOTIFY_SOCKET's value for this socket. */
    public String env() {
        return address.toString();
    }

    /** The next datagram; fails when none arrives within 5 s. */
    String next() throws IOException {
        return receive(Duration.ofSeconds(5)).orElseThrow(() -> new AssertionError("no notify datagram"));
    }

    /** Every datagram already queued; the sends under test are synchronous, so they are all here. */
    List<String> queued() throws IOException {
        List<String> all = new ArrayList<>();
        for (Optional<String> d = receive(Duration.ZERO); d.isPresent(); d = receive(Duration.ZERO)) {
            all.add(d.get());
        }
        return all;
    }

    /** The next datagram, or empty when none arrives within {@code timeout}. */
    public Optional<String> receive(Duration timeout) throws IOException {
        return socket.receive(timeout, 8192).map(b -> new String(b, StandardCharsets.UTF_8));
    }

    @Override
    public void close() throws IOException {
        socket.close();
        if (directory != null) {
            Files.deleteIfExists(directory.resolve("notify"));
            Files.deleteIfExists(directory);
        }
    }
}
