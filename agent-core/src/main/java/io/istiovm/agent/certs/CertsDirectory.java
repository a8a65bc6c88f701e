package io.istiovm.agent.certs;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One certificate directory (/etc/certs): {@code key.pem}, {@code cert-chain.pem}, {@code root-cert.pem}.
 *
 * <p><b>Why this layout.</b> Three files cannot be replaced together by renaming each, so a crash between two
 * renames would leave a new key next to an old certificate. Instead every identity the agent writes goes into
 * its own hidden directory {@code ..identity-*} (written, fsynced, owned and chmodded completely first); the
 * symlink {@code ..data} names the current one, and the three well-known names are symlinks into
 * {@code ..data/}. Switching identities is one {@code rename(2)} of a fresh symlink over {@code ..data}, which
 * is atomic: at every instant the names resolve to one complete, matching set, the old or the new. (This is the
 * scheme Kubernetes uses for projected volumes, so tools that read /etc/certs already cope with it.) A crash
 * before the rename leaves a stray, unreferenced directory that the next write removes.
 *
 * <p>Files an operator puts there by hand (plain files, or new content written through the links) are read as
 * they are; the first write by the agent converts the directory to the layout without a moment of mismatch: it
 * first snapshots the current files into a versioned directory and links the names to it, then switches.
 */
public final class CertsDirectory {
    public static final String KEY = "key.pem";
    public static final String CHAIN = "cert-chain.pem";
    public static final String ROOT = "root-cert.pem";
    static final String DATA = "..data";
    private static final String DATA_TMP = "..data_tmp";
    private static final String VERSION_PREFIX = "..identity-";
    private static final Set<PosixFilePermission> KEY_MODE = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> CERT_MODE = PosixFilePermissions.fromString("rw-r--r--");
    private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwxr-xr-x");

    private final Path dir;

    public CertsDirectory(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    public Path key() {
        return dir.resolve(KEY);
    }

    public Path chain() {
        return dir.resolve(CHAIN);
    }

    public Path root() {
        return dir.resolve(ROOT);
    }

    /** True when none of the three files exists (a VM that has not been enrolled yet). */
    public boolean isEmpty() {
        return !Files.exists(key()) && !Files.exists(chain()) && !Files.exists(root());
    }

    /**
     * Reads and validates the identity as it is on disk now. When the directory has the agent's layout, all
     * three files are read from the one version {@code ..data} names at the start, so a concurrent switch cannot
     * mix two identities.
     */
    public WorkloadIdentity load(IdentityExpectation expectation, Instant now) throws InvalidIdentityException,
            IOException {
        if (isEmpty()) {
            throw new InvalidIdentityException(dir + ": no identity files (root-cert.pem, cert-chain.pem, key.pem)");
        }
        Path source = consistentSource();
        byte[] rootBytes = read(source.resolve(ROOT), root());
        byte[] chainBytes = read(source.resolve(CHAIN), chain());
        byte[] keyBytes = read(source.resolve(KEY), key());
        checkKeyMode(source.resolve(KEY));
        List<X509Certificate> roots = Pem.certificates(root().toString(), rootBytes);
        List<X509Certificate> chainCerts = Pem.certificates(chain().toString(), chainBytes);
        PrivateKey privateKey = Pem.privateKey(key().toString(), keyBytes);
        return new IdentityValidator(expectation, key().toString(), chain().toString(), root().toString())
                .validate(privateKey, chainCerts, roots, now);
    }

    /** The version directory when all three names are links into {@code ..data}, else the directory itself. */
    private Path consistentSource() throws IOException {
        for (String name : List.of(KEY, CHAIN, ROOT)) {
            Path entry = dir.resolve(name);
            if (!Files.isSymbolicLink(entry) || !Files.readSymbolicLink(entry).equals(Path.of(DATA, name))) {
                return dir;
            }
        }
        try {
            return dir.resolve(Files.readSymbolicLink(dir.resolve(DATA)));
        } catch (NoSuchFileException e) {
            return dir;
        }
    }

    private static byte[] read(Path path, Path shownAs) throws InvalidIdentityException, IOException {
        try {
            return Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new InvalidIdentityException(shownAs + ": missing");
        } catch (AccessDeniedException e) {
            throw new InvalidIdentityException(shownAs + ": permission denied (the agent runs as "
                    + System.getProperty("user.name") + ")");
        }
    }

    private void checkKeyMode(Path keyPath) throws InvalidIdentityException, IOException {
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(keyPath);
        // Group read is tolerated (a shared istio-proxy group is common); write by group or any access by
        // others is not.
        if (mode.contains(PosixFilePermission.GROUP_WRITE) || mode.contains(PosixFilePermission.OTHERS_READ)
                || mode.contains(PosixFilePermission.OTHERS_WRITE) || mode.contains(PosixFilePermission.OTHERS_EXECUTE)) {
            throw new InvalidIdentityException(key() + ": mode " + octal(mode)
                    + " lets other users read or change the private key; expected 0600 (chmod 600 " + key() + ")");
        }
    }

    static String octal(Set<PosixFilePermission> mode) {
        int bits = 0;
        for (PosixFilePermission p : mode) {
            bits |= 1 << (8 - p.ordinal());
        }
        return String.format("%04o", bits);
    }

    /**
     * Writes a new identity and switches to it atomically (see the class comment). {@code keyPem} is the key as
     * it will be on disk; the certificates are written in PEM, the chain leaf first.
     */
    public void write(byte[] keyPem, List<X509Certificate> chain, List<X509Certificate> roots, FileOwner owner)
            throws IOException {
        Files.createDirectories(dir);
        if (!isAgentLayout()) {
            adoptCurrentFiles(owner);
        }
        Path version = writeVersion(keyPem, Pem.encodeCertificates(chain).getBytes(StandardCharsets.US_ASCII),
                Pem.encodeCertificates(roots).getBytes(StandardCharsets.US_ASCII), owner);
        switchTo(version);
        removeStaleVersions();
    }

    private boolean isAgentLayout() throws IOException {
        return !consistentSource().equals(dir);
    }

    /** Converts hand-placed files to the layout: snapshot, point ..data at it, then relink each name. */
    private void adoptCurrentFiles(FileOwner owner) throws IOException {
        if (!isEmpty()) {
            Path snapshot = writeVersion(readOrEmpty(KEY), readOrEmpty(CHAIN), readOrEmpty(ROOT), owner);
            switchTo(snapshot);
        }
        for (String name : List.of(KEY, CHAIN, ROOT)) {
            Path tmp = dir.resolve("." + name + ".link");
            Files.deleteIfExists(tmp);
            Files.createSymbolicLink(tmp, Path.of(DATA, name));
            Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        fsyncDirectory(dir);
    }

    private byte[] readOrEmpty(String name) throws IOException {
        Path path = dir.resolve(name);
        return Files.exists(path) ? Files.readAllBytes(path) : new byte[0];
    }

    private Path writeVersion(byte[] key, byte[] chain, byte[] root, FileOwner owner) throws IOException {
        Path version = Files.createTempDirectory(dir, VERSION_PREFIX);
        writeFile(version.resolve(KEY), key, KEY_MODE, owner);
        writeFile(version.resolve(CHAIN), chain, CERT_MODE, owner);
        writeFile(version.resolve(ROOT), root, CERT_MODE, owner);
        Files.setPosixFilePermissions(version, DIR_MODE);
        owner.apply(version);
        fsyncDirectory(version);
        return version;
    }

    private static void writeFile(Path path, byte[] content, Set<PosixFilePermission> mode, FileOwner owner)
            throws IOException {
        // Created with its final mode, so the key is never readable by others, not even for a moment.
        try (FileChannel channel = FileChannel.open(path, Set.of(StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(mode))) {
            owner.apply(path);
            Files.setPosixFilePermissions(path, mode);
            channel.write(java.nio.ByteBuffer.wrap(content));
            channel.force(true);
        }
    }

    private void switchTo(Path version) throws IOException {
        Path tmp = dir.resolve(DATA_TMP);
        Files.deleteIfExists(tmp);
        Files.createSymbolicLink(tmp, version.getFileName());
        Files.move(tmp, dir.resolve(DATA), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(dir);
    }

    /** Removes versions other than the current one and the one before it (a reader may still hold it open). */
    private void removeStaleVersions() throws IOException {
        Path current = Files.readSymbolicLink(dir.resolve(DATA));
        List<Path> versions = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, VERSION_PREFIX + "*")) {
            entries.forEach(versions::add);
        }
        versions.removeIf(v -> v.getFileName().equals(current));
        // A version torn by a crash (fewer than three files) is never worth keeping.
        List<Path> complete = new ArrayList<>();
        for (Path version : versions) {
            if (isComplete(version)) {
                complete.add(version);
            } else {
                deleteTree(version);
            }
        }
        complete.sort((a, b) -> Long.compare(modified(b), modified(a)));
        for (int i = 1; i < complete.size(); i++) {
            deleteTree(complete.get(i));
        }
    }

    private static boolean isComplete(Path version) {
        return Files.isRegularFile(version.resolve(KEY)) && Files.isRegularFile(version.resolve(CHAIN))
                && Files.isRegularFile(version.resolve(ROOT));
    }

    private static long modified(Path path) {
        try {
            return Files.getLastModifiedTime(path, LinkOption.NOFOLLOW_LINKS).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

    private static void deleteTree(Path version) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(version)) {
            for (Path entry : entries) {
                Files.deleteIfExists(entry);
            }
        }
        Files.deleteIfExists(version);
    }

    private static void fsyncDirectory(Path directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** Creates the directory if needed; fails if a file is in the way. */
    public void ensureExists() throws IOException {
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw new IOException(dir + " exists and is not a directory", e);
        }
    }
}
