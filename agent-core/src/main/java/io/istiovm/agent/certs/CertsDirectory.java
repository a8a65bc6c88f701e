package io.istiovm.agent.certs;

import io.istiovm.agent.fs.HeldDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * <p><b>Who owns what.</b> The directory itself may belong to Envoy's user (the multi-network guide runs
 * {@code chown -R istio-proxy /etc/certs}), who must be assumed hostile, so every operation here goes through a
 * {@link HeldDirectory}: no link is ever followed except the layout's own two, which are read as text and must
 * name {@code ..data/<name>} and a {@code ..identity-*} entry of this directory; files are read only when they
 * are regular files of at most {@link #FILE_LIMIT} bytes. Version directories and their files belong to root
 * (the agent), with the group given by VM_AGENT_CERTS_OWNER allowed to read them; nobody else can write them.
 * The agent deletes only version directories that are directories owned by root, and inside them only entries
 * it owns: after a {@code chown -R istio-proxy} the old versions are that user's and are left alone, and the
 * next write creates a fresh root-owned one.
 *
 * <p>Files an operator puts there by hand (plain files, or new content written through the links) are read as
 * they are; the first write by the agent converts the directory to the layout without a moment of mismatch: it
 * first snapshots the current files into a versioned directory and links the names to it, then switches. Only a
 * snapshot that parses as a key and certificates is kept, the certificates re-encoded, so that no other bytes
 * are ever republished.
 */
public final class CertsDirectory {
    private static final Logger LOG = LoggerFactory.getLogger(CertsDirectory.class);

    public static final String KEY = "key.pem";
    public static final String CHAIN = "cert-chain.pem";
    public static final String ROOT = "root-cert.pem";
    static final String DATA = "..data";
    static final String VERSION_PREFIX = "..identity-";
    /** The most any of the three files is read: a chain of a few certificates is a few kilobytes. */
    public static final long FILE_LIMIT = 1 << 20;
    /** The key: root's, readable by the group VM_AGENT_CERTS_OWNER names (Envoy's, which has it over SDS anyway). */
    static final int KEY_MODE = 0640;
    static final int CERT_MODE = 0644;
    static final int VERSION_MODE = 0755;
    private static final List<String> NAMES = List.of(KEY, CHAIN, ROOT);
    /** Reads racing a switch of the layout: each switch is a few renames, so a third read finds it settled. */
    private static final int READ_ATTEMPTS = 3;

    private final Path dir;

    public CertsDirectory(Path dir) {
        this.dir = dir.toAbsolutePath();
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

    /** True when none of the three names exists (a VM that has not been enrolled yet); links are not followed. */
    public boolean isEmpty() throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return true;
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            for (String name : NAMES) {
                if (held.stat(name).isPresent()) {
                    return false;
                }
            }
            return true;
        }
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
        List<HeldDirectory.RegularFile> files = read(NAMES);
        checkKeyMode(files.get(0).mode());
        PrivateKey privateKey = Pem.privateKey(key().toString(), files.get(0).content());
        List<X509Certificate> chainCerts = Pem.certificates(chain().toString(), files.get(1).content());
        List<X509Certificate> roots = Pem.certificates(root().toString(), files.get(2).content());
        return new IdentityValidator(expectation, key().toString(), chain().toString(), root().toString())
                .validate(privateKey, chainCerts, roots, now);
    }

    /** The certificates of root-cert.pem (through the layout, as {@link #load} reads it); empty when it is missing. */
    public Optional<List<X509Certificate>> roots() throws InvalidIdentityException, IOException {
        if (isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(Pem.certificates(root().toString(), read(List.of(ROOT)).get(0).content()));
        } catch (InvalidIdentityException e) {
            if (e.problems().equals(List.of(missing(ROOT)))) {
                return Optional.empty();
            }
            throw e;
        }
    }

    private String missing(String name) {
        return dir.resolve(name) + ": missing";
    }

    /**
     * The files {@code names}, from the version the layout names, else from the directory itself. A read that
     * fails while the agent switches the layout under it (the links changed between its start and its end: the
     * first write converting hand-placed files, or two writes retiring the version being read) is read again, so
     * that a reader racing the writer sees the old set or the new one, never a problem that was not on disk.
     */
    private List<HeldDirectory.RegularFile> read(List<String> names) throws InvalidIdentityException, IOException {
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            for (int attempt = 1; ; attempt++) {
                List<Optional<String>> before = layoutLinks(held);
                try {
                    return readOnce(held, names);
                } catch (InvalidIdentityException e) {
                    if (attempt >= READ_ATTEMPTS || layoutLinks(held).equals(before)) {
                        throw e;
                    }
                }
            }
        }
    }

    /** Where {@code ..data} and the three names point right now (read as text); empty where not a link. */
    private static List<Optional<String>> layoutLinks(HeldDirectory held) throws IOException {
        List<Optional<String>> links = new ArrayList<>();
        links.add(held.readLink(DATA));
        for (String name : NAMES) {
            links.add(held.readLink(name));
        }
        return links;
    }

    private List<HeldDirectory.RegularFile> readOnce(HeldDirectory held, List<String> names)
            throws InvalidIdentityException {
        try {
            Optional<String> version = layoutVersion(held);
            if (version.isPresent()) {
                try (HeldDirectory current = held.openDirectory(version.get())) {
                    return readEach(name -> current, names);
                }
            }
            // While hand-placed files are converted into the layout, some names already link into a valid
            // ..data and others are still the files: each is read where it is, never by following a link.
            Optional<String> converting = held.readLink(DATA).filter(CertsDirectory::isVersionName);
            if (converting.isEmpty()) {
                return readEach(name -> held, names);
            }
            try (HeldDirectory current = held.openDirectory(converting.get())) {
                List<String> linked = new ArrayList<>();
                for (String name : names) {
                    if (held.readLink(name).equals(Optional.of(DATA + "/" + name))) {
                        linked.add(name);
                    }
                }
                return readEach(name -> linked.contains(name) ? current : held, names);
            }
        } catch (InvalidIdentityException e) {
            throw e;
        } catch (IOException e) {
            // A planted link, a file in the directory's place: the message names the entry and what it is.
            throw new InvalidIdentityException(e.getMessage());
        }
    }

    /** Each file as a regular file within the limit; every problem collected, each naming its file. */
    private List<HeldDirectory.RegularFile> readEach(java.util.function.Function<String, HeldDirectory> from,
                                                     List<String> names) throws InvalidIdentityException {
        List<HeldDirectory.RegularFile> files = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (String name : names) {
            try {
                files.add(from.apply(name).readRegularFile(name, FILE_LIMIT));
            } catch (NoSuchFileException e) {
                problems.add(missing(name));
            } catch (IOException e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidIdentityException(problems);
        }
        return files;
    }

    /**
     * The version {@code ..data} names, when the three names are the layout's links ({@code ..data/<name>}, read
     * as text, never followed); empty when they are not (files placed by hand). A {@code ..data} that names
     * anything but an entry {@code ..identity-*} of this directory is refused.
     */
    private Optional<String> layoutVersion(HeldDirectory held) throws IOException, InvalidIdentityException {
        if (!namesAreLayoutLinks(held)) {
            return Optional.empty();
        }
        Optional<String> target = held.readLink(DATA);
        if (target.isEmpty()) {
            throw new InvalidIdentityException(dir.resolve(DATA) + ": missing or not a link, but key.pem, "
                    + "cert-chain.pem and root-cert.pem link into it");
        }
        if (!isVersionName(target.get())) {
            throw new InvalidIdentityException(dir.resolve(DATA) + ": links to '" + target.get()
                    + "', not to a " + VERSION_PREFIX + "* entry of " + dir + "; refusing to follow it");
        }
        return target;
    }

    private static boolean namesAreLayoutLinks(HeldDirectory held) throws IOException {
        for (String name : NAMES) {
            if (!held.readLink(name).equals(Optional.of(DATA + "/" + name))) {
                return false;
            }
        }
        return true;
    }

    static boolean isVersionName(String name) {
        return name.startsWith(VERSION_PREFIX) && name.length() > VERSION_PREFIX.length() && name.indexOf('/') < 0;
    }

    private void checkKeyMode(int mode) throws InvalidIdentityException {
        // Group read is tolerated (the agent's own key is 0640, and a shared istio-proxy group is common); write by
        // the group or any access by others is not.
        if ((mode & 027) != 0) {
            throw new InvalidIdentityException(key() + ": mode " + String.format("%04o", mode)
                    + " lets other users read or change the private key; expected 0600 (chmod 600 " + key() + ")");
        }
    }

    /**
     * Writes a new identity and switches to it atomically (see the class comment). {@code keyPem} is the key as
     * it will be on disk; the certificates are written in PEM, the chain leaf first. Everything written belongs to
     * root, with group {@code readerGroup}.
     */
    public void write(byte[] keyPem, List<X509Certificate> chain, List<X509Certificate> roots, int readerGroup)
            throws IOException {
        int self = HeldDirectory.processUid();
        try (HeldDirectory held = HeldDirectory.openOrCreate(dir, VERSION_MODE, OptionalInt.empty()).directory()) {
            Optional<String> previous = trustedVersion(held, self);
            if (!namesAreLayoutLinks(held)) {
                Optional<String> snapshot = adoptCurrentFiles(held, readerGroup);
                if (snapshot.isPresent()) {
                    previous = snapshot;
                }
            }
            String version = writeVersion(held, keyPem, encode(chain), encode(roots), readerGroup);
            held.replaceWithLink(DATA, version);
            removeStaleVersions(held, self, version, previous);
        }
    }

    /** The version {@code ..data} names, if it is a directory the agent made (owned by {@code self}). */
    private static Optional<String> trustedVersion(HeldDirectory held, int self) throws IOException {
        Optional<String> version = held.readLink(DATA).filter(CertsDirectory::isVersionName);
        if (version.isPresent() && held.stat(version.get())
                .filter(entry -> entry.is(HeldDirectory.EntryType.DIRECTORY, self)).isPresent()) {
            return version;
        }
        return Optional.empty();
    }

    private static byte[] encode(List<X509Certificate> certificates) {
        return Pem.encodeCertificates(certificates).getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Converts hand-placed files to the layout: when they form a key and certificates, snapshots them into a
     * version and points {@code ..data} at it; then relinks each name into {@code ..data}. Returns the snapshot.
     */
    private Optional<String> adoptCurrentFiles(HeldDirectory held, int readerGroup) throws IOException {
        Optional<String> snapshot = Optional.empty();
        Optional<byte[][]> current = handPlacedFiles(held);
        if (current.isPresent()) {
            snapshot = Optional.of(writeVersion(held, current.get()[0], current.get()[1], current.get()[2],
                    readerGroup));
            held.replaceWithLink(DATA, snapshot.get());
        }
        for (String name : NAMES) {
            held.replaceWithLink(name, DATA + "/" + name);
        }
        return snapshot;
    }

    /**
     * The hand-placed key (as it is) and certificates (re-encoded), when all three are regular files that parse;
     * else empty: what is not an identity is not kept, and nothing is ever read through a link.
     */
    private Optional<byte[][]> handPlacedFiles(HeldDirectory held) throws IOException {
        try {
            if (isEmpty()) {
                return Optional.empty();
            }
            List<HeldDirectory.RegularFile> files = readEach(name -> held, NAMES);
            Pem.privateKey(key().toString(), files.get(0).content());
            return Optional.of(new byte[][] {files.get(0).content(),
                    encode(Pem.certificates(chain().toString(), files.get(1).content())),
                    encode(Pem.certificates(root().toString(), files.get(2).content()))});
        } catch (InvalidIdentityException e) {
            LOG.info("{}: not keeping the files there as the previous identity: {}", dir, e.getMessage());
            return Optional.empty();
        }
    }

    /** A complete, synced version in a fresh root-owned directory; returns its name. */
    private static String writeVersion(HeldDirectory held, byte[] key, byte[] chain, byte[] root, int readerGroup)
            throws IOException {
        try (HeldDirectory version = held.makeFreshDirectory(VERSION_PREFIX)) {
            OptionalInt group = OptionalInt.of(readerGroup);
            version.createFile(KEY, key, KEY_MODE, group);
            version.createFile(CHAIN, chain, CERT_MODE, group);
            version.createFile(ROOT, root, CERT_MODE, group);
            version.setGroup(readerGroup);
            version.setMode(VERSION_MODE);
            version.sync();
            held.sync();
            return version.name();
        }
    }

    /**
     * Removes versions other than the current one and the one before it (a reader may still hold it open), and
     * only those the agent made: directories owned by {@code self}, emptied of what it owns. Anything else named
     * {@code ..identity-*} (a link, another user's directory) is left alone.
     */
    private void removeStaleVersions(HeldDirectory held, int self, String current, Optional<String> previous)
            throws IOException {
        for (HeldDirectory.Entry entry : held.list()) {
            String name = entry.name();
            if (!isVersionName(name) || name.equals(current) || previous.filter(name::equals).isPresent()) {
                continue;
            }
            if (!entry.is(HeldDirectory.EntryType.DIRECTORY, self)) {
                LOG.warn("{}: left alone: a {} owned by uid {}, not a version the agent wrote", dir.resolve(name),
                        entry.type().toString().toLowerCase(java.util.Locale.ROOT).replace('_', ' '), entry.uid());
                continue;
            }
            List<Path> left = held.deleteOwnedTree(name, self);
            if (!left.isEmpty()) {
                LOG.warn("{}: not removed; it holds entries the agent did not write: {}", dir.resolve(name), left);
            }
        }
    }

    /** Creates the directory if needed; fails if something else is in the way. */
    public void ensureExists() throws IOException {
        HeldDirectory.openOrCreate(dir, VERSION_MODE, OptionalInt.empty()).directory().close();
    }
}
