package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replaces a hosts file so that a reader (or a crash) sees either the old or the new complete content: a temporary
 * file in the same directory, fsync, then rename over the target, keeping its mode, owner and user extended
 * attributes. When the target is a mount point (a bind-mounted /etc/hosts, as containers have), rename fails with
 * EBUSY or EXDEV; the new content then goes to a journal file first (itself written by rename, so it is complete
 * whenever it exists) and is copied in place; {@link #recover} finishes a copy a crash interrupted.
 */
public final class HostsFileWriter {
    private static final Logger LOG = LoggerFactory.getLogger(HostsFileWriter.class);
    private static final String TAG = ".istio-vm-agent.";
    /** Writes of one plan before giving up on a file that keeps changing under the agent. */
    static final int STALE_ATTEMPTS = 5;

    private final Set<Path> warnedInPlace = ConcurrentHashMap.newKeySet();

    /** How a write was done. */
    public enum Method {
        /** The file already held the content. */
        UNCHANGED,
        /** Replaced atomically by rename. */
        RENAMED,
        /** Rewritten in place through the journal (the file is a mount point). */
        IN_PLACE,
        /** Not written: the file changed since the plan was made; plan again. */
        STALE
    }

    /** Makes a plan from the sources and the file as it is now; called again when the file changed under a plan. */
    @FunctionalInterface
    public interface Planner {
        HostsPlan plan() throws ConfigException, IOException;
    }

    /** What a planned write did: the plan it wrote (the last one made) and how; never {@link Method#STALE}. */
    public record Written(HostsPlan plan, Method method) {
        public Written {
            Objects.requireNonNull(plan, "plan");
            Objects.requireNonNull(method, "method");
        }
    }

    /** The hosts file changed between reading and writing on every attempt; nothing was written. */
    public static final class StaleException extends IOException {
        private static final long serialVersionUID = 1L;

        StaleException(Path target) {
            super(target + ": changed by someone else during each of " + STALE_ATTEMPTS
                    + " attempts to write it; nothing written");
        }
    }

    /** Writes the block {@code settings} ask for into their hosts file: {@code hosts apply}, the daemon's loop. */
    public Written apply(HostsSettings settings) throws ConfigException, IOException {
        return write(() -> HostsPlanner.apply(settings));
    }

    /** Removes the block from {@code target}, every other byte kept: {@code hosts clean}, the daemon's stop. */
    public Written clean(Path target) throws ConfigException, IOException {
        return write(() -> HostsPlanner.clean(target));
    }

    /** {@link #write(HostsPlan, Planner)} of a plan {@code planner} makes now. */
    public Written write(Planner planner) throws ConfigException, IOException {
        return write(planner.plan(), planner);
    }

    /**
     * Writes {@code first}; when the file changed since that plan read it (an edit by someone else, which is then
     * kept rather than overwritten unseen), asks {@code planner} for a plan of the file as it is now and writes that,
     * up to {@link #STALE_ATTEMPTS} writes in all. The one retry of every caller: the daemon, a reload, the CLI.
     *
     * @throws StaleException when the file changed under every attempt
     */
    public Written write(HostsPlan first, Planner planner) throws ConfigException, IOException {
        HostsPlan plan = first;
        for (int attempt = 1; ; attempt++) {
            Method method = write(plan.target(), plan.current().bytes(), plan.desired());
            if (method != Method.STALE) {
                return new Written(plan, method);
            }
            if (attempt == STALE_ATTEMPTS) {
                throw new StaleException(plan.target());
            }
            plan = planner.plan();
        }
    }

    /** Writes {@code content} to {@code target} unless it already holds exactly that. */
    public Method write(Path target, byte[] content) throws IOException {
        return write(target, null, content);
    }

    /**
     * Writes {@code content} to {@code target} if the file still holds {@code expected} (null: whatever it holds),
     * so that an edit made while the plan was computed is not overwritten unseen.
     */
    public Method write(Path target, byte[] expected, byte[] content) throws IOException {
        Path real = Files.exists(target) ? target.toRealPath() : target.toAbsolutePath();
        Lock lock = Lock.acquire(real);
        try {
            return writeLocked(real, expected, content);
        } finally {
            lock.close();
        }
    }

    private Method writeLocked(Path real, byte[] expected, byte[] content) throws IOException {
        byte[] current = Files.exists(real) ? HostsPlanner.readTargetUnchecked(real) : new byte[0];
        if (Arrays.equals(current, content)) {
            return Method.UNCHANGED;
        }
        if (expected != null && !Arrays.equals(current, expected)) {
            return Method.STALE;
        }
        Path directory = real.getParent();
        String base = real.getFileName().toString();
        Path temporary = Files.createTempFile(directory, "." + base + TAG, ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
                writeFully(channel, content);
                channel.force(true);
            }
            copyAttributes(real, temporary);
            try {
                Files.move(temporary, real, StandardCopyOption.ATOMIC_MOVE);
                syncDirectory(directory);
                return Method.RENAMED;
            } catch (FileSystemException e) {
                if (!isMountPoint(e)) {
                    throw e;
                }
                // Once per file and process: a watcher on a bind-mounted file would otherwise say it on every write.
                if (warnedInPlace.add(real)) {
                    LOG.warn("{} cannot be replaced by rename ({}); it is probably a bind mount, so it is rewritten "
                            + "in place through the journal {}", real, reason(e), journal(real));
                }
            }
            Files.move(temporary, journal(real), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            syncDirectory(directory);
            copyInPlace(real, content);
            return Method.IN_PLACE;
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    /**
     * Finishes what a killed writer left: a journal is complete by construction and is copied in place; temporary
     * files are partial and are deleted. Returns true when a journal was replayed.
     */
    public boolean recover(Path target) throws IOException {
        Path real = Files.exists(target) ? target.toRealPath() : target.toAbsolutePath();
        Lock lock = Lock.acquire(real);
        try {
            return recoverLocked(real);
        } finally {
            lock.close();
        }
    }

    private static boolean recoverLocked(Path real) throws IOException {
        String base = real.getFileName().toString();
        try (DirectoryStream<Path> leftovers = Files.newDirectoryStream(real.getParent(), "." + base + TAG + "*.tmp")) {
            for (Path leftover : leftovers) {
                Files.deleteIfExists(leftover);
            }
        }
        Path journal = journal(real);
        if (!Files.exists(journal)) {
            return false;
        }
        LOG.warn("{}: finishing an interrupted in-place rewrite from {}", real, journal);
        copyInPlace(real, Files.readAllBytes(journal));
        return true;
    }

    /**
     * Serialises writers of one file across processes (the daemon and a `hosts apply` run by hand), since they share
     * the journal. An fcntl lock on a small file beside the target that stays there, as /etc/.pwd.lock does:
     * deleting a lock file races with the next writer that opened it.
     */
    private static final class Lock implements AutoCloseable {
        /** fcntl locks belong to the process, so threads of this one take turns here first. */
        private static final ReentrantLock IN_PROCESS = new ReentrantLock();
        private final FileChannel channel;

        private Lock(FileChannel channel) {
            this.channel = channel;
        }

        static Lock acquire(Path real) throws IOException {
            Path path = real.resolveSibling("." + real.getFileName() + TAG + "lock");
            try {
                IN_PROCESS.lockInterruptibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting to write " + real);
            }
            FileChannel channel = null;
            try {
                channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                channel.lock();
                return new Lock(channel);
            } catch (IOException | RuntimeException e) {
                if (channel != null) {
                    channel.close();
                }
                IN_PROCESS.unlock();
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                channel.close();
            } finally {
                IN_PROCESS.unlock();
            }
        }
    }

    static Path journal(Path real) {
        return real.resolveSibling("." + real.getFileName() + TAG + "journal");
    }

    private static void copyInPlace(Path real, byte[] content) throws IOException {
        try (FileChannel channel = FileChannel.open(real, StandardOpenOption.WRITE, StandardOpenOption.CREATE)) {
            writeFully(channel, content);
            channel.truncate(content.length);
            channel.force(true);
        }
        Files.delete(journal(real));
        syncDirectory(real.getParent());
    }

    private static void writeFully(FileChannel channel, byte[] content) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(content);
        long position = 0;
        while (buffer.hasRemaining()) {
            position += channel.write(buffer, position);
        }
    }

    /** Mode, owner, group and extended attributes; a new file gets 0644 like a fresh /etc/hosts. */
    private static void copyAttributes(Path from, Path to) throws IOException {
        PosixFileAttributeView target = Files.getFileAttributeView(to, PosixFileAttributeView.class);
        if (!Files.exists(from)) {
            target.setPermissions(PosixFilePermissions.fromString("rw-r--r--"));
            return;
        }
        PosixFileAttributes attributes = Files.readAttributes(from, PosixFileAttributes.class);
        target.setOwner(attributes.owner());
        target.setGroup(attributes.group());
        target.setPermissions(attributes.permissions());
        ExtendedAttributes.copy(from, to);
    }

    private static boolean isMountPoint(FileSystemException e) {
        if (e instanceof AtomicMoveNotSupportedException) {
            return true;
        }
        String reason = reason(e);
        return reason.contains("Device or resource busy") || reason.contains("cross-device");
    }

    private static String reason(FileSystemException e) {
        return e.getReason() == null ? e.getMessage() : e.getReason();
    }

    private static void syncDirectory(Path directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
