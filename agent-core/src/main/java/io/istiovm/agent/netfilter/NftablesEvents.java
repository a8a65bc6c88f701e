package io.istiovm.agent.netfilter;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the agent at once when anything changes in nftables (the kernel multicasts every ruleset change to the
 * NFNLGRP_NFTABLES netlink group, which is what {@code nft monitor} reads), so an external flush or a firewalld
 * reload is repaired within moments rather than at the next periodic check. Only the nft backend announces
 * changes; with legacy iptables the periodic check is all there is.
 */
public final class NftablesEvents implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NftablesEvents.class);

    /** The few libc calls needed; JNA because the JDK has no netlink sockets. */
    interface Libc extends Library {
        Libc INSTANCE = Native.load("c", Libc.class);

        int socket(int domain, int type, int protocol);

        int bind(int fd, byte[] address, int length);

        long recv(int fd, byte[] buffer, long length, int flags);

        int close(int fd);

        int open(String path, int flags);

        int setns(int fd, int nstype);

        int eventfd(int initval, int flags);

        int poll(byte[] fds, long nfds, int timeout);

        long write(int fd, byte[] buffer, long count);
    }

    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_NETFILTER = 12;
    private static final int NFNLGRP_NFTABLES = 7;
    private static final int EFD_CLOEXEC = 0x80000;
    private static final short POLLIN = 1;
    private static final int EINTR = 4;
    private static final int ENOBUFS = 105;
    private static final int O_RDONLY = 0;
    private static final int CLONE_NEWNET = 0x40000000;

    private final Thread thread;
    private final CountDownLatch subscribed = new CountDownLatch(1);
    private volatile boolean closed;
    /** An eventfd that {@link #close} writes to: the loop sleeps in poll(2) on it and the socket, with no timeout. */
    private int wake = -1;
    private volatile String failure;

    private NftablesEvents(Optional<String> netns, Runnable onChange) {
        this.thread = new Thread(() -> listen(netns, onChange), "nftables-events");
        this.thread.setDaemon(true);
    }

    /**
     * Starts calling {@code onChange} (on its own thread) after every nftables change, in the host's network
     * namespace or in {@code netns}. Returns once subscribed, so no change after this call is missed.
     */
    public static NftablesEvents subscribe(Optional<String> netns, Runnable onChange) throws IOException {
        NftablesEvents events = new NftablesEvents(netns, onChange);
        events.thread.start();
        try {
            if (!events.subscribed.await(10, TimeUnit.SECONDS)) {
                throw new IOException("netlink subscription did not start");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        if (events.failure != null) {
            throw new IOException(events.failure);
        }
        return events;
    }

    private void listen(Optional<String> netns, Runnable onChange) {
        Libc c = Libc.INSTANCE;
        int fd;
        int eventFd;
        try {
            if (netns.isPresent()) {
                // setns changes only this thread's namespace, which is the one its socket belongs to.
                int nsFd = c.open("/var/run/netns/" + netns.get(), O_RDONLY);
                if (nsFd < 0 || c.setns(nsFd, CLONE_NEWNET) != 0) {
                    throw new IOException("cannot enter network namespace " + netns.get() + " (errno "
                            + Native.getLastError() + ")");
                }
                c.close(nsFd);
            }
            fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
            if (fd < 0) {
                throw new IOException("cannot open a netfilter netlink socket (errno " + Native.getLastError() + ")");
            }
            // Idle means asleep: the loop waits in poll(2) without a timeout, on the socket and on an eventfd that
            // close() writes to, so nothing wakes the agent while nftables is quiet.
            eventFd = c.eventfd(0, EFD_CLOEXEC);
            synchronized (this) {
                wake = eventFd;
            }
            if (eventFd < 0) {
                c.close(fd);
                throw new IOException("cannot create an eventfd (errno " + Native.getLastError() + ")");
            }
            ByteBuffer address = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder())
                    .putShort((short) AF_NETLINK).putShort((short) 0).putInt(0).putInt(1 << (NFNLGRP_NFTABLES - 1));
            if (c.bind(fd, address.array(), 12) != 0) {
                c.close(fd);
                closeWake();
                throw new IOException("cannot join the nftables netlink group (errno " + Native.getLastError() + ")");
            }
        } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
            failure = e.getMessage();
            subscribed.countDown();
            return;
        }
        subscribed.countDown();
        byte[] buffer = new byte[65536];
        ByteBuffer fds = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        fds.putInt(0, fd).putShort(4, POLLIN).putInt(8, eventFd).putShort(12, POLLIN);
        try {
            while (!closed) {
                fds.putShort(6, (short) 0).putShort(14, (short) 0);
                int ready = c.poll(fds.array(), 2, -1);
                if (ready < 0 && Native.getLastError() != EINTR) {
                    LOG.error("nftables events: poll failed (errno {}); changes are found by the periodic check",
                            Native.getLastError());
                    return;
                }
                if (closed || ready <= 0 || fds.getShort(6) == 0) {
                    continue;
                }
                long received = c.recv(fd, buffer, buffer.length, 0);
                // Data, or an overrun (ENOBUFS: changes were lost), means "look again".
                if (received > 0 || (received < 0 && Native.getLastError() == ENOBUFS)) {
                    try {
                        onChange.run();
                    } catch (RuntimeException e) {
                        LOG.error("nftables change handler failed: {}", e.toString());
                    }
                }
            }
        } finally {
            c.close(fd);
            closeWake();
        }
    }

    /** Closes the eventfd under the lock {@link #close} writes under, so that it never writes to a reused number. */
    private synchronized void closeWake() {
        if (wake >= 0) {
            Libc.INSTANCE.close(wake);
            wake = -1;
        }
    }

    /** True while the listening thread runs. */
    boolean isListening() {
        return thread.isAlive();
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        synchronized (this) {
            // Under the lock closeWake() takes.
            if (wake >= 0) {
                Libc.INSTANCE.write(wake, ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(1).array(), 8);
            }
        }
        thread.join(TimeUnit.SECONDS.toMillis(5));
    }
}
