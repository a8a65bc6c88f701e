package io.istiovm.agent.fs;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * A directory held open by file descriptor, and every change in it made relative to that descriptor. The agent
 * runs as root in directories Envoy's user owns (the multi-network guide chowns them to istio-proxy), and that user
 * may swap any entry for a symbolic link at any moment; a path-based write, chmod or chown would then act on the
 * link's target. Here the directory itself is opened with O_NOFOLLOW, files are created with O_EXCL|O_NOFOLLOW,
 * modes and owners are set on the open descriptor (fchmod, fchown), renames and removals name entries of the held
 * directory (renameat, unlinkat): a planted link is refused or replaced, never followed.
 *
 * <p>{@link #entry} gives a path through {@code /proc/self/fd}, for APIs that take only paths (binding a socket):
 * it resolves to the held directory whatever its path now names.
 */
public final class HeldDirectory implements AutoCloseable {
    private static final int ENOENT = 2;
    private static final int EEXIST = 17;
    private static final int ENOTDIR = 20;
    private static final int ELOOP = 40;

    /** The open(2) flags, which differ between x86-64 and the generic (arm64) ABI. */
    private static final int O_RDONLY = 0;
    private static final int O_WRONLY = 01;
    private static final int O_NOCTTY = 0400;
    private static final int O_NONBLOCK = 04000;
    private static final int O_CREAT = 0100;
    private static final int O_EXCL = 0200;
    private static final int O_DIRECTORY = Platform.isIntel() ? 0200000 : 040000;
    private static final int O_NOFOLLOW = Platform.isIntel() ? 0400000 : 0100000;
    private static final int O_CLOEXEC = 02000000;
    private static final int O_PATH = 010000000;
    private static final int AT_FDCWD = -100;
    private static final int AT_REMOVEDIR = 0x200;

    /** The libc calls; every one takes or returns a descriptor. */
    private interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int openat(int dirfd, String path, int flags, int mode) throws LastErrorException;

        int mkdirat(int dirfd, String path, int mode) throws LastErrorException;

        int fchmod(int fd, int mode) throws LastErrorException;

        int fchown(int fd, int uid, int gid) throws LastErrorException;

        long write(int fd, byte[] buffer, long count) throws LastErrorException;

        long read(int fd, byte[] buffer, long count) throws LastErrorException;

        int fsync(int fd) throws LastErrorException;

        int close(int fd) throws LastErrorException;

        int renameat(int olddirfd, String oldpath, int newdirfd, String newpath) throws LastErrorException;

        int unlinkat(int dirfd, String path, int flags) throws LastErrorException;
    }

    private final Path path;
    private final int fd;
    private boolean closed;

    private HeldDirectory(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /** Opens {@code dir}; refuses it when it is a symbolic link or not a directory. */
    public static HeldDirectory open(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath();
        try {
            return new HeldDirectory(absolute, LibC.INSTANCE.openat(AT_FDCWD, absolute.toString(),
                    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw directoryFailure(absolute, e);
        }
    }

    /** A held directory, and whether this call created it. */
    public record Opened(HeldDirectory directory, boolean created) {
    }

    /**
     * Opens {@code dir}, first creating it (and its missing parents, as {@code mkdir -p} does) when it does not
     * exist. Only a directory this call creates gets {@code mode} and {@code group}, set on its descriptor; an
     * existing one keeps what its owner gave it.
     */
    public static Opened openOrCreate(Path dir, int mode, OptionalInt group) throws IOException {
        Path absolute = dir.toAbsolutePath();
        java.nio.file.Files.createDirectories(absolute.getParent());
        boolean created;
        try (HeldDirectory parent = open(absolute.getParent())) {
            created = parent.makeDirectory(absolute.getFileName().toString());
        }
        HeldDirectory opened = open(absolute);
        if (created) {
            try {
                opened.setMode(mode);
                if (group.isPresent()) {
                    opened.setGroup(group.getAsInt());
                }
            } catch (IOException e) {
                opened.close();
                throw e;
            }
        }
        return new Opened(opened, created);
    }

    /** The path it was opened by, for messages. */
    public Path path() {
        return path;
    }

    /** {@code /proc/self/fd/N/name}: the entry {@code name} of this directory, for path-only APIs. */
    public Path entry(String name) {
        return Path.of("/proc/self/fd", Integer.toString(fd), checkedName(name));
    }

    /** {@code /proc/self/fd/N}: this directory, for listing it. */
    public Path self() {
        return Path.of("/proc/self/fd", Integer.toString(fd));
    }

    public void setMode(int mode) throws IOException {
        try {
            LibC.INSTANCE.fchmod(fd, mode);
        } catch (LastErrorException e) {
            throw failure(path, "chmod", e);
        }
    }

    public void setGroup(int gid) throws IOException {
        try {
            LibC.INSTANCE.fchown(fd, -1, gid);
        } catch (LastErrorException e) {
            throw failure(path, "chgrp", e);
        }
    }

    /**
     * Replaces entry {@code name} with a file holding {@code content} and mode {@code mode}, atomically: a fresh file
     * (whatever stood at its temporary name is removed first, never opened) is written, given its mode on the
     * descriptor, synced, and renamed over {@code name}; then the directory is synced.
     */
    public void writeAtomically(String name, byte[] content, int mode) throws IOException {
        String temp = "." + checkedName(name) + ".tmp";
        delete(temp);
        int file;
        try {
            file = LibC.INSTANCE.openat(fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        } catch (LastErrorException e) {
            throw failure(path.resolve(temp), "cannot be created", e);
        }
        try {
            // The mode on the descriptor, because creation applies the umask.
            LibC.INSTANCE.fchmod(file, mode);
            for (int written = 0; written < content.length; ) {
                byte[] rest = written == 0 ? content : java.util.Arrays.copyOfRange(content, written, content.length);
                written += (int) LibC.INSTANCE.write(file, rest, rest.length);
            }
            LibC.INSTANCE.fsync(file);
        } catch (LastErrorException e) {
            closeQuietly(file);
            delete(temp);
            throw failure(path.resolve(temp), "cannot be written", e);
        }
        try {
            LibC.INSTANCE.close(file);
            LibC.INSTANCE.renameat(fd, temp, fd, name);
            LibC.INSTANCE.fsync(fd);
        } catch (LastErrorException e) {
            delete(temp);
            throw failure(path.resolve(name), "cannot be replaced", e);
        }
    }

    /**
     * Reads entry {@code name}, which must be a regular file of at most {@code limit} bytes: a link is refused (not
     * followed), a FIFO, device or socket is refused without blocking (the open is non-blocking, the type is checked
     * on the open descriptor), and a larger file is refused before any of it is read.
     */
    public RegularFile readRegularFile(String name, long limit) throws IOException {
        return readOpened(path.resolve(checkedName(name)), fd, name, limit);
    }

    /**
     * Reads {@code file} as {@link #readRegularFile} does; only its last component is refused when it is a link
     * (use a held directory for files in directories another user can write).
     */
    public static RegularFile readRegularFile(Path file, long limit) throws IOException {
        Path absolute = file.toAbsolutePath();
        return readOpened(absolute, AT_FDCWD, absolute.toString(), limit);
    }

    /** A regular file's bytes, with the owner and mode its descriptor had when they were read. */
    public record RegularFile(Path path, byte[] content, int uid, int gid, int mode) {
        public String text() {
            return new String(content, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private static RegularFile readOpened(Path shown, int dirfd, String name, long limit) throws IOException {
        int file;
        try {
            file = LibC.INSTANCE.openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
        } catch (LastErrorException e) {
            if (e.getErrorCode() == ENOENT) {
                throw new java.nio.file.NoSuchFileException(shown.toString());
            }
            throw failure(shown, "cannot be opened", e);
        }
        try {
            // The descriptor's /proc link resolves to the opened inode: its type and size, not the name's now.
            Path opened = Path.of("/proc/self/fd", Integer.toString(file));
            var attributes = java.nio.file.Files.readAttributes(opened, "unix:mode,uid,gid,size");
            int mode = (Integer) attributes.get("mode");
            if ((mode & 0170000) != 0100000) {
                throw new IOException(shown + ": is not a regular file (" + typeName(mode) + "); refusing to read it");
            }
            long size = (Long) attributes.get("size");
            if (size > limit) {
                throw new IOException(shown + ": is " + size + " bytes, more than the " + limit + " allowed");
            }
            java.io.ByteArrayOutputStream content = new java.io.ByteArrayOutputStream((int) size);
            byte[] buffer = new byte[(int) Math.min(Math.max(size, 1), 65536) + 1];
            long total = 0;
            for (long n; (n = LibC.INSTANCE.read(file, buffer, buffer.length)) > 0; ) {
                total += n;
                if (total > limit) {
                    throw new IOException(shown + ": grew past the " + limit + " bytes allowed while being read");
                }
                content.write(buffer, 0, (int) n);
            }
            return new RegularFile(shown, content.toByteArray(), (Integer) attributes.get("uid"),
                    (Integer) attributes.get("gid"), mode & 07777);
        } catch (LastErrorException e) {
            throw failure(shown, "cannot be read", e);
        } finally {
            closeQuietly(file);
        }
    }

    private static String typeName(int mode) {
        return switch (mode & 0170000) {
            case 0010000 -> "a FIFO";
            case 0020000 -> "a character device";
            case 0060000 -> "a block device";
            case 0140000 -> "a socket";
            case 0040000 -> "a directory";
            default -> "type " + Integer.toOctalString(mode & 0170000);
        };
    }

    /** Removes entry {@code name} (a link itself, never its target); false when there was none. */
    public boolean delete(String name) throws IOException {
        try {
            LibC.INSTANCE.unlinkat(fd, checkedName(name), 0);
            return true;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == ENOENT) {
                return false;
            }
            throw failure(path.resolve(name), "cannot be removed", e);
        }
    }

    /** Removes the empty directory entry {@code name}. */
    public void deleteDirectory(String name) throws IOException {
        try {
            LibC.INSTANCE.unlinkat(fd, checkedName(name), AT_REMOVEDIR);
        } catch (LastErrorException e) {
            throw failure(path.resolve(name), "cannot be removed", e);
        }
    }

    /** Creates directory {@code name} with mode 0700; false when the entry exists already. */
    public boolean makeDirectory(String name) throws IOException {
        try {
            LibC.INSTANCE.mkdirat(fd, checkedName(name), 0700);
            return true;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == EEXIST) {
                return false;
            }
            throw failure(path.resolve(name), "cannot be created", e);
        }
    }

    /** Opens the subdirectory {@code name} (refused when it is a link). */
    public HeldDirectory openDirectory(String name) throws IOException {
        try {
            return new HeldDirectory(path.resolve(name), LibC.INSTANCE.openat(fd, checkedName(name),
                    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw directoryFailure(path.resolve(name), e);
        }
    }

    /** Moves entry {@code name} of this directory to {@code targetName} in {@code target}, replacing that entry. */
    public void moveTo(String name, HeldDirectory target, String targetName) throws IOException {
        try {
            LibC.INSTANCE.renameat(fd, checkedName(name), target.fd, checkedName(targetName));
        } catch (LastErrorException e) {
            throw failure(target.path.resolve(targetName), "cannot be replaced", e);
        }
    }

    /**
     * A descriptor (O_PATH) of the inode entry {@code name} is now, through which its mode and group can be changed
     * later whatever then stands at the name, and wherever the entry has been moved. Refused for a symbolic link.
     * Take it in a directory no one else can write, so that the entry is the one the caller made.
     */
    public InodeHandle holdEntry(String name) throws IOException {
        if (java.nio.file.Files.isSymbolicLink(entry(name))) {
            throw new IOException(path.resolve(name) + ": is a symbolic link; refusing to follow it");
        }
        try {
            return new InodeHandle(path.resolve(name), LibC.INSTANCE.openat(fd, checkedName(name),
                    O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw failure(path.resolve(name), "cannot be opened", e);
        }
    }

    /**
     * An inode held by an O_PATH descriptor. O_PATH allows no fchmod or fchown, so they go through the descriptor's
     * {@code /proc/self/fd} link, which resolves to the held inode itself (the technique glibc's fchmodat uses).
     */
    public static final class InodeHandle implements AutoCloseable {
        private final Path path;
        private final int fd;
        private boolean closed;

        private InodeHandle(Path path, int fd) {
            this.path = path;
            this.fd = fd;
        }

        public void setMode(int mode) throws IOException {
            java.nio.file.Files.setAttribute(procLink(), "unix:mode", mode);
        }

        public void setGroup(int gid) throws IOException {
            java.nio.file.Files.setAttribute(procLink(), "unix:gid", gid);
        }

        /** The held inode's {@code st_mode}. */
        public int mode() throws IOException {
            return (Integer) java.nio.file.Files.getAttribute(procLink(), "unix:mode");
        }

        @Override
        public String toString() {
            return path.toString();
        }

        private Path procLink() {
            return Path.of("/proc/self/fd", Integer.toString(fd));
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                closeQuietly(fd);
            }
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            closeQuietly(fd);
        }
    }

    private static void closeQuietly(int fd) {
        try {
            LibC.INSTANCE.close(fd);
        } catch (LastErrorException e) {
            // Nothing to do about a failed close of a descriptor we are done with.
        }
    }

    /** One name in this directory: never a path that could leave it. */
    private static String checkedName(String name) {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0
                || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a single directory entry name: '" + name + "'");
        }
        return name;
    }

    /** With O_DIRECTORY, a link is ENOTDIR rather than ELOOP; the message says which it was. */
    private static IOException directoryFailure(Path path, LastErrorException e) {
        if (java.nio.file.Files.isSymbolicLink(path)) {
            return new IOException(path + ": is a symbolic link; refusing to follow it");
        }
        return failure(path, "cannot be opened as a directory", e);
    }

    private static IOException failure(Path path, String what, LastErrorException e) {
        String why = switch (e.getErrorCode()) {
            case ELOOP -> "is a symbolic link; refusing to follow it";
            case ENOTDIR -> "is not a directory";
            default -> what + ": " + e.getMessage();
        };
        return new IOException(path + ": " + why);
    }
}
