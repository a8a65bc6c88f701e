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

        int setsockopt(int fd, int level, int name, byte[] value, int length);

        long recv(int fd, byte[] buffer, long length, int flags);

        int close(int fd);

        int open(String path, int flags);

        int setns(int fd, int nstype);
    }

    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_NETFILTER = 12;
    private static final int NFNLGRP_NFTABLES = 7;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVTIMEO = 20;
    private static final int O_RDONLY = 0;
    private static final int CLONE_NEWNET = 0x40000000;

    private final Thread thread;
    private final CountDownLatch subscribed = new CountDownLatch(1);
    private volatile boolean closed;
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
            // A receive timeout lets the loop notice close() without signalling the thread.
            ByteBuffer timeout = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder()).putLong(1).putLong(0);
            c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout.array(), 16);
            ByteBuffer address = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder())
                    .putShort((short) AF_NETLINK).putShort((short) 0).putInt(0).putInt(1 << (NFNLGRP_NFTABLES - 1));
            if (c.bind(fd, address.array(), 12) != 0) {
                c.close(fd);
                throw new IOException("cannot join the nftables netlink group (errno " + Native.getLastError() + ")");
            }
        } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
            failure = e.getMessage();
            subscribed.countDown();
            return;
        }
        subscribed.countDown();
        byte[] buffer = new byte[65536];
        try {
            while (!closed) {
                long received = c.recv(fd, buffer, buffer.length, 0);
                // A timeout (EAGAIN) loops; data or an overrun (ENOBUFS: changes were lost) means "look again".
                if (received > 0 || (received < 0 && Native.getLastError() == 105)) {
                    try {
                        onChange.run();
                    } catch (RuntimeException e) {
                        LOG.error("nftables change handler failed: {}", e.toString());
                    }
                }
            }
        } finally {
            c.close(fd);
        }
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        thread.join(TimeUnit.SECONDS.toMillis(5));
    }
}
