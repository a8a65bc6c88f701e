package io.istiovm.agent.fs;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * A regular file of a {@link HeldDirectory}, open by descriptor: opened through the held directory (never through
 * a symbolic link at its name: O_NOFOLLOW), non-blocking so that a FIFO or device at the name cannot stall the
 * agent, and refused unless the opened inode is a regular file. Owner and mode are set on the descriptor, and
 * {@link #channel()} reads and writes that same inode whatever the name is made to point at afterwards.
 * Used where {@link HeldDirectory#writeAtomically} is not enough: a replacement that keeps the old file's owner,
 * a rewrite in place, and a lock file.
 */
public final class HeldFile implements AutoCloseable {
    private static final int EEXIST = 17;
    private static final int ELOOP = 40;
    private static final int O_RDWR = 02;
    private static final int O_CREAT = 0100;
    private static final int O_EXCL = 0200;
    private static final int O_NOCTTY = 0400;
    private static final int O_NONBLOCK = 04000;
    private static final int O_NOFOLLOW = Platform.isIntel() ? 0400000 : 0100000;
    private static final int O_CLOEXEC = 02000000;
    private static final int AT_FDCWD = -100;

    private interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int openat(int dirfd, String path, int flags, int mode) throws LastErrorException;

        int fchmod(int fd, int mode) throws LastErrorException;

        int fchown(int fd, int uid, int gid) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    private final Path shown;
    private final int fd;
    private final FileChannel channel;
    private boolean closed;

    private HeldFile(Path shown, int fd) throws IOException {
        this.shown = shown;
        this.fd = fd;
        FileChannel opened = null;
        try {
            Map<String, Object> attributes = Files.readAttributes(descriptorPath(), "unix:mode");
            int mode = (Integer) attributes.get("mode");
            if ((mode & 0170000) != 0100000) {
                throw new IOException(shown + ": is not a regular file; refusing to open it");
            }
            // Reopening the descriptor's /proc link opens the inode already held, not whatever the name is now.
            opened = FileChannel.open(descriptorPath(), StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException | RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
        this.channel = opened;
    }

    /**
     * Creates entry {@code name} of {@code directory}, which must not exist (O_EXCL: whatever stands there, a
     * link included, is never opened), with {@code mode} set on the descriptor (creation applies the umask).
     *
     * @throws FileAlreadyExistsException when the name is taken
     */
    public static HeldFile create(HeldDirectory directory, String name, int mode) throws IOException {
        HeldFile file = open(directory, name, O_CREAT | O_EXCL, mode & 0600);
        try {
            file.setMode(mode);
            return file;
        } catch (IOException e) {
            file.close();
            throw e;
        }
    }

    /**
     * Opens entry {@code name} of {@code directory} for reading and writing, creating it with {@code mode} when it
     * is missing; a link at the name is refused, anything but a regular file is refused without blocking.
     */
    public static HeldFile openOrCreate(HeldDirectory directory, String name, int mode) throws IOException {
        return open(directory, name, O_CREAT, mode);
    }

    private static HeldFile open(HeldDirectory directory, String name, int flags, int mode) throws IOException {
        Path entry = directory.entry(name);
        Path shown = directory.path().resolve(name);
        int fd;
        try {
            fd = LibC.INSTANCE.openat(AT_FDCWD, entry.toString(),
                    flags | O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
        } catch (LastErrorException e) {
            if (e.getErrorCode() == EEXIST) {
                throw new FileAlreadyExistsException(shown.toString());
            }
            if (e.getErrorCode() == ELOOP) {
                throw new IOException(shown + ": is a symbolic link; refusing to follow it");
            }
            throw new IOException(shown + ": cannot be opened: " + e.getMessage());
        }
        return new HeldFile(shown, fd);
    }

    /** {@code /proc/self/fd/N}: the open inode, for calls that take a path (it resolves to the inode itself). */
    public Path descriptorPath() {
        return Path.of("/proc/self/fd", Integer.toString(fd));
    }

    /** The open file; reading, writing, truncating, forcing and locking it act on the held inode. */
    public FileChannel channel() {
        return channel;
    }

    public void setMode(int mode) throws IOException {
        try {
            LibC.INSTANCE.fchmod(fd, mode);
        } catch (LastErrorException e) {
            throw new IOException(shown + ": chmod: " + e.getMessage());
        }
    }

    public void setOwner(int uid, int gid) throws IOException {
        try {
            LibC.INSTANCE.fchown(fd, uid, gid);
        } catch (LastErrorException e) {
            throw new IOException(shown + ": chown: " + e.getMessage());
        }
    }

    @Override
    public String toString() {
        return shown.toString();
    }

    @Override
    public synchronized void close() throws IOException {
        if (!closed) {
            closed = true;
            try {
                channel.close();
            } finally {
                closeQuietly(fd);
            }
        }
    }

    private static void closeQuietly(int fd) {
        try {
            LibC.INSTANCE.close(fd);
        } catch (LastErrorException e) {
            // Nothing to do about a failed close of a descriptor we are done with.
        }
    }
}
