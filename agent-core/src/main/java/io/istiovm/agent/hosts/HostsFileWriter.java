package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.fs.HeldFile;
import io.istiovm.agent.fs.TrustedLinks;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
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
 *
 * <p>Every file operation goes through the fs layer, in the target's directory held by descriptor: the target is
 * reached through root's symbolic links only ({@link TrustedLinks}), read with a size limit and only if it is a
 * regular file, the temporary file is created exclusively under an unguessable name and given owner and mode on its
 * descriptor, the lock file is opened without following links, and renames and removals name entries of the held
 * directory.
 */
public final class HostsFileWriter {
    private static final Logger LOG = LoggerFactory.getLogger(HostsFileWriter.class);
    private static final String TAG = ".istio-vm-agent.";
    /** Writes of one plan before giving up on a file that keeps changing under the agent. */
    static final int STALE_ATTEMPTS = 5;
    private static final SecureRandom RANDOM = new SecureRandom();

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
        Path real = TrustedLinks.resolve(target);
        try (HeldDirectory directory = HeldDirectory.open(real.getParent());
             Lock lock = Lock.acquire(directory, real)) {
            return writeLocked(directory, real.getFileName().toString(), expected, content);
        }
    }

    private Method writeLocked(HeldDirectory directory, String name, byte[] expected, byte[] content)
            throws IOException {
        Optional<HeldDirectory.RegularFile> current = HostsPlanner.readTarget(directory, name);
        byte[] currentBytes = current.map(HeldDirectory.RegularFile::content).orElse(new byte[0]);
        if (Arrays.equals(currentBytes, content)) {
            return Method.UNCHANGED;
        }
        if (expected != null && !Arrays.equals(currentBytes, expected)) {
            return Method.STALE;
        }
        Path real = directory.path().resolve(name);
        String temporary = writeTemporary(directory, name, content, current);
        boolean moved = false;
        try {
            try {
                // rename(2) through the held directory's /proc/self/fd entries: it replaces the entry at the name
                // (a link there included) and never follows one; Files.move keeps the FileSystemException whose
                // reason tells a bind mount (EBUSY) from other failures.
                Files.move(directory.entry(temporary), directory.entry(name), StandardCopyOption.ATOMIC_MOVE);
                moved = true;
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
            Files.move(directory.entry(temporary), directory.entry(journalName(name)),
                    StandardCopyOption.ATOMIC_MOVE);
            moved = true;
            syncDirectory(directory);
            copyInPlace(directory, name, content);
            return Method.IN_PLACE;
        } finally {
            if (!moved) {
                directory.delete(temporary);
            }
        }
    }

    /**
     * A new file beside {@code name} under a name no one can guess, created exclusively (nothing planted at it is
     * ever opened), holding {@code content}, synced, with the owner, mode and extended attributes of the current
     * file, all set on its descriptor; 0644 like a fresh /etc/hosts when there is none. Returns its name.
     */
    private static String writeTemporary(HeldDirectory directory, String name, byte[] content,
                                         Optional<HeldDirectory.RegularFile> current) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String temporary = "." + name + TAG + HexFormat.of().formatHex(randomBytes()) + ".tmp";
            HeldFile file;
            try {
                file = HeldFile.create(directory, temporary, 0600);
            } catch (FileAlreadyExistsException e) {
                if (attempt < 3) {
                    continue;
                }
                throw e;
            }
            try (file) {
                writeFully(file.channel(), content);
                file.channel().force(true);
                if (current.isPresent()) {
                    // Owner first: chown clears set-id bits and file capabilities, which the mode and xattrs restore.
                    file.setOwner(current.get().uid(), current.get().gid());
                    file.setMode(current.get().mode());
                    ExtendedAttributes.copy(directory.entry(name), file.descriptorPath());
                } else {
                    file.setMode(0644);
                }
                return temporary;
            } catch (IOException | RuntimeException e) {
                directory.delete(temporary);
                throw e;
            }
        }
    }

    private static byte[] randomBytes() {
        byte[] bytes = new byte[8];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    /**
     * Finishes what a killed writer left: a journal is complete by construction and is copied in place; temporary
     * files are partial and are deleted. Only the agent's own leftovers are touched: regular files it owns, by name
     * pattern, type and owner; a journal someone else owns is refused, not replayed.
     * Returns true when a journal was replayed.
     */
    public boolean recover(Path target) throws IOException {
        Path real = TrustedLinks.resolve(target);
        try (HeldDirectory directory = HeldDirectory.open(real.getParent());
             Lock lock = Lock.acquire(directory, real)) {
            return recoverLocked(directory, real.getFileName().toString());
        }
    }

    private static boolean recoverLocked(HeldDirectory directory, String name) throws IOException {
        int own = TrustedLinks.ownUid();
        String prefix = "." + name + TAG;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory.self(), entry ->
                entry.getFileName().toString().startsWith(prefix) && entry.getFileName().toString().endsWith(".tmp"))) {
            for (Path entry : entries) {
                String leftover = entry.getFileName().toString();
                Map<String, Object> attributes = Files.readAttributes(directory.entry(leftover), "unix:mode,uid",
                        LinkOption.NOFOLLOW_LINKS);
                if (((Integer) attributes.get("mode") & 0170000) == 0100000 && (Integer) attributes.get("uid") == own) {
                    directory.delete(leftover);
                }
            }
        }
        HeldDirectory.RegularFile journal;
        try {
            journal = directory.readRegularFile(journalName(name), HostsPlanner.MAX_HOSTS_FILE_BYTES);
        } catch (NoSuchFileException e) {
            return false;
        }
        Path real = directory.path().resolve(name);
        if (journal.uid() != own) {
            throw new IOException(journal.path() + ": is owned by uid " + journal.uid() + ", not by the agent; "
                    + "refusing to copy it into " + real + " (remove it)");
        }
        LOG.warn("{}: finishing an interrupted in-place rewrite from {}", real, journal.path());
        copyInPlace(directory, name, journal.content());
        return true;
    }

    /**
     * Serialises writers of one file across processes (the daemon and a `hosts apply` run by hand), since they share
     * the journal. An fcntl lock on a small file beside the target that stays there, as /etc/.pwd.lock does:
     * deleting a lock file races with the next writer that opened it. The lock file is opened through the held
     * directory: a link or FIFO planted at its name is refused, never followed or blocked on.
     */
    private static final class Lock implements AutoCloseable {
        /** fcntl locks belong to the process, so threads of this one take turns here first. */
        private static final ReentrantLock IN_PROCESS = new ReentrantLock();
        private final HeldFile file;

        private Lock(HeldFile file) {
            this.file = file;
        }

        static Lock acquire(HeldDirectory directory, Path real) throws IOException {
            try {
                IN_PROCESS.lockInterruptibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting to write " + real);
            }
            HeldFile file = null;
            try {
                file = HeldFile.openOrCreate(directory, "." + real.getFileName() + TAG + "lock", 0600);
                file.channel().lock();
                return new Lock(file);
            } catch (IOException | RuntimeException e) {
                if (file != null) {
                    file.close();
                }
                IN_PROCESS.unlock();
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                file.close();
            } finally {
                IN_PROCESS.unlock();
            }
        }
    }

    static Path journal(Path real) {
        return real.resolveSibling(journalName(real.getFileName().toString()));
    }

    private static String journalName(String name) {
        return "." + name + TAG + "journal";
    }

    /** Rewrites {@code name} in place (opened in the held directory, never through a link), then drops the journal. */
    private static void copyInPlace(HeldDirectory directory, String name, byte[] content) throws IOException {
        try (HeldFile file = HeldFile.openOrCreate(directory, name, 0644)) {
            writeFully(file.channel(), content);
            file.channel().truncate(content.length);
            file.channel().force(true);
        }
        directory.delete(journalName(name));
        syncDirectory(directory);
    }

    private static void writeFully(FileChannel channel, byte[] content) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(content);
        long position = 0;
        while (buffer.hasRemaining()) {
            position += channel.write(buffer, position);
        }
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

    private static void syncDirectory(HeldDirectory directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory.self(), StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
