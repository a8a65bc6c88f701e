package io.istiovm.agent.envoy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Where Envoy's admin API listens: a unix socket (mode 0660, Envoy's uid and gid, in a directory only root and
 * Envoy's group can enter, so no other local user can reach it) or TCP 127.0.0.1:port, which any local user can.
 */
public record AdminAddress(Optional<Path> socket, int port) {
    /** Envoy's {@code Pipe.mode} for the admin socket: read and write for Envoy's user and group. */
    public static final int SOCKET_MODE = 0660;
    private static final InetAddress LOOPBACK;

    static {
        try {
            LOOPBACK = InetAddress.getByAddress("127.0.0.1", new byte[] {127, 0, 0, 1});
        } catch (java.net.UnknownHostException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    public AdminAddress {
        Objects.requireNonNull(socket, "socket");
        if (socket.isEmpty() && (port < 1 || port > 65535)) {
            throw new IllegalArgumentException("admin port out of range: " + port);
        }
    }

    public static AdminAddress socket(Path path) {
        return new AdminAddress(Optional.of(path), 0);
    }

    public static AdminAddress tcp(int port) {
        return new AdminAddress(Optional.empty(), port);
    }

    public boolean onTcp() {
        return socket.isEmpty();
    }

    /** The address to connect to. */
    SocketAddress connectable() {
        return socket.<SocketAddress>map(UnixDomainSocketAddress::of)
                .orElseGet(() -> new InetSocketAddress(LOOPBACK, port));
    }

    @Override
    public String toString() {
        return socket.map(p -> "unix:" + p).orElse("127.0.0.1:" + port);
    }
}
