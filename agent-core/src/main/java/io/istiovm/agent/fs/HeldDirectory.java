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

        int symlinkat(String target, int newdirfd, String linkpath) throws LastErrorException;

        int geteuid();
    }

    /** Source of the unpredictable suffixes of fresh names. */
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

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
        createFile(temp, content, mode, OptionalInt.empty());
        try {
            LibC.INSTANCE.renameat(fd, temp, fd, name);
            LibC.INSTANCE.fsync(fd);
        } catch (LastErrorException e) {
            delete(temp);
            throw failure(path.resolve(name), "cannot be replaced", e);
        }
    }

    /**
     * Creates entry {@code name}, which must not exist (O_EXCL: a planted link or file makes this fail, it is never
     * opened), holding {@code content}: the owner (this process's user, and {@code group} when given) and then the
     * mode are set on the descriptor before the first byte is written, and the file is synced.
     */
    public void createFile(String name, byte[] content, int mode, OptionalInt group) throws IOException {
        int file;
        try {
            file = LibC.INSTANCE.openat(fd, checkedName(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode & 0700);
        } catch (LastErrorException e) {
            throw failure(path.resolve(name), "cannot be created", e);
        }
        try {
            if (group.isPresent()) {
                LibC.INSTANCE.fchown(file, -1, group.getAsInt());
            }
            // The mode on the descriptor, because creation applies the umask.
            LibC.INSTANCE.fchmod(file, mode);
            for (int written = 0; written < content.length; ) {
                byte[] rest = written == 0 ? content : java.util.Arrays.copyOfRange(content, written, content.length);
                written += (int) LibC.INSTANCE.write(file, rest, rest.length);
            }
            LibC.INSTANCE.fsync(file);
        } catch (LastErrorException e) {
            closeQuietly(file);
            delete(name);
            throw failure(path.resolve(name), "cannot be written", e);
        }
        try {
            LibC.INSTANCE.close(file);
        } catch (LastErrorException e) {
            delete(name);
            throw failure(path.resolve(name), "cannot be written", e);
        }
    }

    /** Syncs this directory, so that entries created, renamed or removed in it survive a crash. */
    public void sync() throws IOException {
        try {
            LibC.INSTANCE.fsync(fd);
        } catch (LastErrorException e) {
            throw failure(path, "cannot be synced", e);
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

    /** The effective uid of this process: the owner of every entry it creates. */
    public static int processUid() {
        return LibC.INSTANCE.geteuid();
    }

    /** The kind of an entry, from its {@code st_mode}, never from what a link points to. */
    public enum EntryType {
        REGULAR_FILE, DIRECTORY, SYMBOLIC_LINK, OTHER;

        static EntryType of(int mode) {
            return switch (mode & 0170000) {
                case 0100000 -> REGULAR_FILE;
                case 0040000 -> DIRECTORY;
                case 0120000 -> SYMBOLIC_LINK;
                default -> OTHER;
            };
        }
    }

    /** One entry of a held directory as lstat(2) saw it: a link is described, never followed. */
    public record Entry(String name, EntryType type, int uid, int gid, int mode) {
        /** True for an entry of {@code type} owned by {@code owner}: how the agent recognises what it made. */
        public boolean is(EntryType expected, int owner) {
            return type == expected && uid == owner;
        }
    }

    /** The entries of this directory (without . and ..), each described without following links. */
    public java.util.List<Entry> list() throws IOException {
        java.util.List<Entry> entries = new java.util.ArrayList<>();
        try (java.nio.file.DirectoryStream<Path> names = java.nio.file.Files.newDirectoryStream(self())) {
            for (Path name : names) {
                stat(name.getFileName().toString()).ifPresent(entries::add);
            }
        }
        return entries;
    }

    /** Entry {@code name} as lstat(2) sees it; empty when there is none. */
    public java.util.Optional<Entry> stat(String name) throws IOException {
        try {
            var attributes = java.nio.file.Files.readAttributes(entry(name), "unix:mode,uid,gid",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) attributes.get("mode");
            return java.util.Optional.of(new Entry(name, EntryType.of(mode), (Integer) attributes.get("uid"),
                    (Integer) attributes.get("gid"), mode & 07777));
        } catch (java.nio.file.NoSuchFileException e) {
            return java.util.Optional.empty();
        }
    }

    /** This directory itself, as its descriptor sees it (whatever its path names now). */
    public Entry describe() throws IOException {
        var attributes = java.nio.file.Files.readAttributes(self(), "unix:mode,uid,gid");
        int mode = (Integer) attributes.get("mode");
        return new Entry(path.getFileName() == null ? "/" : path.getFileName().toString(), EntryType.of(mode),
                (Integer) attributes.get("uid"), (Integer) attributes.get("gid"), mode & 07777);
    }

    /**
     * Creates a fresh directory named {@code prefix} and an unpredictable suffix (mkdirat, which never follows a
     * link and fails on any existing entry; a taken name is retried with another suffix), opens it without
     * following links, and checks on the descriptor that it is the one this call made: owned by this process, no
     * access for group or others, empty. Another user who can write this directory may swap the new name between
     * the mkdir and the open; then this refuses rather than write into what it did not make.
     */
    public HeldDirectory makeFreshDirectory(String prefix) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String name = checkedName(prefix + freshSuffix());
            if (!makeDirectory(name)) {
                if (attempt < 16) {
                    continue;
                }
                throw new IOException(path.resolve(prefix) + "*: no free name after " + attempt + " attempts");
            }
            afterFreshDirectory.accept(this, name);
            HeldDirectory fresh = openDirectory(name);
            try {
                Entry made = fresh.describe();
                if (made.type() != EntryType.DIRECTORY || made.uid() != processUid() || (made.mode() & 077) != 0
                        || !fresh.list().isEmpty()) {
                    throw new IOException(fresh.path() + ": was replaced after it was created (owner " + made.uid()
                            + ", mode " + Integer.toOctalString(made.mode()) + "); refusing to write into it");
                }
                return fresh;
            } catch (IOException | RuntimeException e) {
                fresh.close();
                throw e;
            }
        }
    }

    /**
     * Runs between the mkdir and the open of {@link #makeFreshDirectory}: tests swap the new entry there, as a
     * racing user could, to see it refused. Does nothing otherwise.
     */
    static volatile java.util.function.BiConsumer<HeldDirectory, String> afterFreshDirectory = (dir, name) -> {
    };

    /** {@code prefix} with an unpredictable suffix, for a temporary name another user cannot plant in advance. */
    public static String freshName(String prefix) {
        return checkedName(prefix + freshSuffix());
    }

    private static String freshSuffix() {
        return Long.toUnsignedString(RANDOM.nextLong(), 36);
    }

    /** The entry's name in its parent, for renaming it or pointing a link at it. */
    public String name() {
        return path.getFileName().toString();
    }

    /**
     * Points entry {@code name} at {@code target} atomically: a link made at a fresh, unpredictable name
     * (symlinkat, which fails rather than replace anything) is renamed over {@code name}, which is replaced
     * whatever it was, except a directory (then this fails). Then the directory is synced.
     */
    public void replaceWithLink(String name, String target) throws IOException {
        String temp = freshName("." + checkedName(name) + ".link-");
        try {
            LibC.INSTANCE.symlinkat(target, fd, temp);
        } catch (LastErrorException e) {
            throw failure(path.resolve(temp), "cannot be created", e);
        }
        try {
            LibC.INSTANCE.renameat(fd, temp, fd, name);
        } catch (LastErrorException e) {
            delete(temp);
            throw failure(path.resolve(name), "cannot be replaced", e);
        }
        sync();
    }

    /** The target of the symbolic link {@code name}; empty when the entry is missing or not a link. */
    public java.util.Optional<String> readLink(String name) throws IOException {
        try {
            return java.util.Optional.of(java.nio.file.Files.readSymbolicLink(entry(name)).toString());
        } catch (java.nio.file.NoSuchFileException | java.nio.file.NotLinkException e) {
            return java.util.Optional.empty();
        }
    }

    /**
     * Removes the directory {@code name} and what is inside it, but only what {@code owner} made: the directory
     * and each entry are removed only when they are directories, regular files or links owned by {@code owner};
     * links are removed, never followed, and a directory is descended through its descriptor, never by path.
     * Anything else is left where it is (and keeps its parent); returns the paths left behind, empty when the whole
     * tree is gone.
     */
    public java.util.List<Path> deleteOwnedTree(String name, int owner) throws IOException {
        java.util.Optional<Entry> top = stat(name);
        if (top.isEmpty()) {
            return java.util.List.of();
        }
        if (!top.get().is(EntryType.DIRECTORY, owner)) {
            return java.util.List.of(path.resolve(name));
        }
        java.util.List<Path> left = new java.util.ArrayList<>();
        try (HeldDirectory sub = openDirectory(name)) {
            if (!sub.describe().is(EntryType.DIRECTORY, owner)) {
                return java.util.List.of(path.resolve(name));
            }
            for (Entry entry : sub.list()) {
                if (entry.is(EntryType.DIRECTORY, owner)) {
                    left.addAll(sub.deleteOwnedTree(entry.name(), owner));
                } else if (entry.is(EntryType.REGULAR_FILE, owner) || entry.is(EntryType.SYMBOLIC_LINK, owner)) {
                    sub.delete(entry.name());
                } else {
                    left.add(sub.path().resolve(entry.name()));
                }
            }
        }
        if (left.isEmpty()) {
            deleteDirectory(name);
            sync();
        } else {
            left.add(path.resolve(name));
        }
        return left;
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
