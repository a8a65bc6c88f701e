package io.istiovm.agent.unix;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/**
 * A unix-domain datagram socket (SOCK_DGRAM), which the JDK lacks: how a daemon talks to systemd's notify socket and
 * to journald's native socket. One descriptor, close-on-exec; safe for concurrent senders (each send is one system
 * call). {@link #bind} and {@link #receive} exist for the tests that stand in for systemd and journald.
 */
public final class UnixDatagramSocket implements AutoCloseable {
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 02000000;
    /** A peer that went away must not kill the agent with SIGPIPE. */
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final short POLLIN = 1;
    private static final int EINTR = 4;

    private interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int socket(int domain, int type, int protocol) throws LastErrorException;

        int bind(int fd, byte[] addr, int addrlen) throws LastErrorException;

        long sendto(int fd, byte[] buf, long len, int flags, byte[] addr, int addrlen) throws LastErrorException;

        long recv(int fd, byte[] buf, long len, int flags) throws LastErrorException;

        int poll(byte[] fds, long nfds, int timeout) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    private final int fd;
    private volatile boolean closed;

    private UnixDatagramSocket(int fd) {
        this.fd = fd;
    }

    /** An unbound socket, for sending. */
    public static UnixDatagramSocket open() throws IOException {
        try {
            return new UnixDatagramSocket(LibC.INSTANCE.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_UNIX, SOCK_DGRAM): errno " + e.getErrorCode(), e);
        }
    }

    /** A socket bound at {@code address}, for receiving. */
    public static UnixDatagramSocket bind(UnixAddress address) throws IOException {
        UnixDatagramSocket socket = open();
        byte[] addr = address.sockaddr();
        try {
            LibC.INSTANCE.bind(socket.fd, addr, addr.length);
        } catch (LastErrorException e) {
            socket.close();
            throw new IOException("bind " + address + ": errno " + e.getErrorCode(), e);
        }
        return socket;
    }

    /**
     * Sends {@code datagram} to {@code address} as one datagram.
     *
     * @throws IOException with the errno when the kernel refused it (no such socket, too large: EMSGSIZE is 90)
     */
    public void send(UnixAddress address, byte[] datagram) throws IOException {
        Objects.requireNonNull(datagram, "datagram");
        byte[] addr = address.sockaddr();
        try {
            LibC.INSTANCE.sendto(fd, datagram, datagram.length, MSG_NOSIGNAL, addr, addr.length);
        } catch (LastErrorException e) {
            throw new SendFailed(address, e.getErrorCode(), e);
        }
    }

    /** A send the kernel refused, with its errno. */
    public static final class SendFailed extends IOException {
        private final int errno;

        SendFailed(UnixAddress address, int errno, Throwable cause) {
            super("send to " + address + ": errno " + errno, cause);
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    /** The next datagram, at most {@code limit} bytes of it, or empty when none arrived within {@code timeout}. */
    public Optional<byte[]> receive(Duration timeout, int limit) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        // struct pollfd { int fd; short events; short revents; }
        byte[] pollfd = new byte[8];
        pollfd[0] = (byte) fd;
        pollfd[1] = (byte) (fd >>> 8);
        pollfd[2] = (byte) (fd >>> 16);
        pollfd[3] = (byte) (fd >>> 24);
        pollfd[4] = POLLIN;
        while (true) {
            long left = Math.max(0, (deadline - System.nanoTime()) / 1_000_000);
            int ready;
            try {
                ready = LibC.INSTANCE.poll(pollfd, 1, (int) Math.min(left, Integer.MAX_VALUE));
            } catch (LastErrorException e) {
                if (e.getErrorCode() == EINTR) {
                    continue;
                }
                throw new IOException("poll: errno " + e.getErrorCode(), e);
            }
            if (ready == 0) {
                return Optional.empty();
            }
            byte[] buffer = new byte[limit];
            try {
                long length = LibC.INSTANCE.recv(fd, buffer, buffer.length, 0);
                return Optional.of(Arrays.copyOf(buffer, (int) length));
            } catch (LastErrorException e) {
                throw new IOException("recv: errno " + e.getErrorCode(), e);
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            LibC.INSTANCE.close(fd);
        } catch (LastErrorException ignored) {
            // Nothing to do: the descriptor is gone either way.
        }
    }
}
