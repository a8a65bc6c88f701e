package io.istiovm.agent.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A TCP listener inside a network namespace that answers every connection with one line,
 * {@code <name> <original destination>}, and closes it. The original destination is what netfilter recorded
 * before a REDIRECT (SO_ORIGINAL_DST), so a listener standing in for Envoy on 15001/15006 proves that a
 * connection was captured and to where it was going; a listener at the real destination proves it went direct.
 * Where netfilter tracks nothing (a namespace without NAT rules) the socket's own local address is reported,
 * which for a connection that was not redirected is the same thing.
 *
 * <p>The accept loop runs on its own thread, which first joins the namespace with setns(2) (that changes only
 * the calling thread), so the socket lives in the namespace while the test JVM stays in the host's.
 */
public final class OriginalDestinationListener implements AutoCloseable {
    private final String name;
    private final boolean ipv6;
    private final Thread thread;
    private final CountDownLatch listening = new CountDownLatch(1);
    private volatile int listenFd = -1;
    private volatile String failure;

    private final boolean transparent;
    /** The address to bind: all zeroes for the wildcard. */
    private final byte[] bindAddress;
    /** Whether the answer also names the client's address ({@code from <ip>:<port>}). */
    private final boolean reportClient;
    /** Non-zero: pass each connection through to its original destination as Envoy does in TPROXY mode. */
    private volatile long passthroughMark;

    private OriginalDestinationListener(String namespace, String name, byte[] bindAddress, int port,
                                        boolean transparent, boolean reportClient) {
        this.name = name;
        this.ipv6 = bindAddress.length == 16;
        this.bindAddress = bindAddress;
        this.transparent = transparent;
        this.reportClient = reportClient;
        this.thread = new Thread(() -> serve(namespace, port), "listener-" + name + "-" + port);
        this.thread.setDaemon(true);
    }

    /** Starts listening on the wildcard address of one family in {@code namespace}; returns once it listens. */
    public static OriginalDestinationListener start(String namespace, String name, boolean ipv6, int port)
            throws IOException {
        return start(namespace, name, ipv6, port, false);
    }

    /** As {@link #start(String, String, boolean, int)}; {@code transparent} also accepts what TPROXY diverts. */
    public static OriginalDestinationListener start(String namespace, String name, boolean ipv6, int port,
                                                    boolean transparent) throws IOException {
        return start(namespace, name, ipv6 ? "::" : "0.0.0.0", port, transparent, false);
    }

    /**
     * As {@link #start(String, String, boolean, int, boolean)}, bound to {@code address} (a literal; "0.0.0.0" or
     * "::" for the wildcard); {@code reportClient} adds {@code " from <client ip:port>"} to the answer.
     */
    public static OriginalDestinationListener start(String namespace, String name, String address, int port,
                                                    boolean transparent, boolean reportClient) throws IOException {
        OriginalDestinationListener listener = new OriginalDestinationListener(namespace, name,
                java.net.InetAddress.getByName(address).getAddress(), port, transparent, reportClient);
        return listener.started(name);
    }

    /**
     * Envoy's inbound listener in TPROXY mode with its passthrough: a transparent IPv4 socket on {@code port} that,
     * for each connection, connects on to the original destination from the client's own address (IP_TRANSPARENT,
     * bound to it) with the firewall mark {@code mark} (SO_MARK, as Envoy's original_src filter), reads the
     * application's line and answers {@code "<name> <original destination> from <client> via <application's line>"}.
     * This is the path Istio 1.9's mark RETURN and CONNMARK rules exist for: without the first the passthrough is
     * diverted back here, without the second the application's replies go out to the real client.
     */
    public static OriginalDestinationListener startTproxyPassthrough(String namespace, String name, int port,
                                                                     long mark) throws IOException {
        OriginalDestinationListener listener = new OriginalDestinationListener(namespace, name,
                new byte[4], port, true, true);
        listener.passthroughMark = mark;
        return listener.started(name);
    }

    /** Connects from {@code client} (a sockaddr_in) to {@code destination} with the mark; the first line, or why not. */
    private String passThrough(byte[] client, byte[] destination) {
        Libc c = Libc.INSTANCE;
        int fd = c.socket(Libc.AF_INET, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        try {
            byte[] from = client.clone();
            from[2] = 0;
            from[3] = 0;
            if (c.setsockopt(fd, Libc.SOL_IP, Libc.IP_TRANSPARENT, new int[] {1}, 4) != 0
                    || c.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_MARK, new int[] {(int) passthroughMark}, 4) != 0
                    || c.bind(fd, from, 16) != 0) {
                return "passthrough setup failed";
            }
            if (c.connect(fd, destination, 16) != 0) {
                return "passthrough connect failed";
            }
            byte[] buffer = new byte[256];
            long n = c.read(fd, buffer, buffer.length);
            return n <= 0 ? "passthrough read nothing" : new String(buffer, 0, (int) n, StandardCharsets.UTF_8).strip();
        } finally {
            c.close(fd);
        }
    }

    private void serve(String namespace, int port) {
        Libc c = Libc.INSTANCE;
        try {
            int nsFd = c.open("/var/run/netns/" + namespace, Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (nsFd < 0 || c.setns(nsFd, Libc.CLONE_NEWNET) != 0) {
                throw new IOException("cannot enter network namespace " + namespace);
            }
            c.close(nsFd);
            int fd = c.socket(ipv6 ? Libc.AF_INET6 : Libc.AF_INET, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            c.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, new int[] {1}, 4);
            if (ipv6) {
                c.setsockopt(fd, Libc.SOL_IPV6, Libc.IPV6_V6ONLY, new int[] {1}, 4);
            }
            if (transparent && c.setsockopt(fd, ipv6 ? Libc.SOL_IPV6 : Libc.SOL_IP,
                    ipv6 ? Libc.IPV6_TRANSPARENT : Libc.IP_TRANSPARENT, new int[] {1}, 4) != 0) {
                c.close(fd);
                throw new IOException("cannot make the socket transparent");
            }
            byte[] address = ipv6 ? sockaddrIn6(port, bindAddress) : sockaddrIn(port, bindAddress);
            if (c.bind(fd, address, address.length) != 0 || c.listen(fd, 64) != 0) {
                c.close(fd);
                throw new IOException("cannot listen on port " + port + " in " + namespace);
            }
            listenFd = fd;
        } catch (IOException | RuntimeException e) {
            failure = e.getMessage();
            listening.countDown();
            return;
        }
        listening.countDown();
        while (true) {
            com.sun.jna.Memory client = new com.sun.jna.Memory(28);
            com.sun.jna.Memory clientLength = new com.sun.jna.Memory(4);
            clientLength.setInt(0, 28);
            int connection = c.accept(listenFd, client, clientLength);
            if (connection < 0) {
                return;
            }
            String from = reportClient ? " from " + OriginalDestination.format(client.getByteArray(0, 28), ipv6) : "";
            if (passthroughMark != 0) {
                byte[] destination = new byte[16];
                int[] length = {16};
                c.getsockname(connection, destination, length);
                from += " via " + passThrough(client.getByteArray(0, 16), destination);
            }
            byte[] reply = (name + " " + OriginalDestination.of(connection, ipv6) + from + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            c.write(connection, reply, reply.length);
            c.close(connection);
        }
    }

    private static byte[] sockaddrIn(int port, byte[] address) {
        ByteBuffer b = ByteBuffer.allocate(16);
        b.put((byte) Libc.AF_INET).put((byte) 0).putShort((short) port).put(address);
        return b.array();
    }

    private static byte[] sockaddrIn6(int port, byte[] address) {
        ByteBuffer b = ByteBuffer.allocate(28);
        b.put((byte) Libc.AF_INET6).put((byte) 0).putShort((short) port).putInt(0).put(address);
        return b.array();
    }

    @Override
    public void close() throws InterruptedException {
        int fd = listenFd;
        if (fd >= 0) {
            // shutdown() wakes the thread blocked in accept(), which then returns -1 and ends the loop.
            Libc.INSTANCE.shutdown(fd, Libc.SHUT_RDWR);
            thread.join(TimeUnit.SECONDS.toMillis(10));
            Libc.INSTANCE.close(fd);
        }
    }

    /** Starts the accepting thread and returns once it listens; fails with its error if it could not. */
    private OriginalDestinationListener started(String name) throws IOException {
        thread.start();
        try {
            if (!listening.await(10, TimeUnit.SECONDS)) {
                throw new IOException("listener " + name + " did not start");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        if (failure != null) {
            throw new IOException(failure);
        }
        return this;
    }
}
