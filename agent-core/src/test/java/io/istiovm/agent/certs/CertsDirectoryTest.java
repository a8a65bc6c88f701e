package io.istiovm.agent.certs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.Accounts;
import io.istiovm.agent.config.UserRef;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.TestPki;
import io.istiovm.agent.testing.VictimFile;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The on-disk layout: modes, owner, the switch, adopting hand-placed files, cleaning up. Runs as root. */
class CertsDirectoryTest {
    private static final Instant NOW = Instant.now();
    private static final String ID = "spiffe://cluster.local/ns/vm/sa/web";
    private static final IdentityExpectation EXPECT = new IdentityExpectation("cluster.local", "vm", Optional.empty());
    private static final FileOwner OWNER = new FileOwner(4242, 4343);

    @TempDir
    Path dir;
    private final TestPki pki = TestPki.create("Layout root", NOW.minus(Duration.ofDays(1)), NOW.plus(Duration.ofDays(1)));

    private record Issued(KeyPair keys, X509Certificate leaf) {
    }

    private Issued issue() {
        KeyPair keys = TestPki.ecKeys();
        return new Issued(keys, pki.issue(keys.getPublic(), List.of(ID), List.of(), NOW.minus(Duration.ofMinutes(1)),
                NOW.plus(Duration.ofHours(1))));
    }

    private void write(CertsDirectory certs, Issued issued, boolean pkcs8) throws Exception {
        certs.write(Pem.encodePrivateKey(issued.keys().getPrivate(), pkcs8), List.of(issued.leaf()),
                List.of(pki.root()), OWNER.gid());
    }

    @Test
    void writesModesOwnerAndLinksAndLoadsBack() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir.resolve("certs"));
        Issued issued = issue();
        write(certs, issued, false);

        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(issued.leaf());
        for (String name : List.of("key.pem", "cert-chain.pem", "root-cert.pem")) {
            Path link = certs.dir().resolve(name);
            assertThat(Files.isSymbolicLink(link)).isTrue();
            assertThat(Files.readSymbolicLink(link)).isEqualTo(Path.of("..data", name));
            // Root's files (Envoy's user must not change what the agent trusts); the owner's group may read them.
            assertThat(Files.getAttribute(link, "unix:uid")).isEqualTo(0);
            assertThat(Files.getAttribute(link, "unix:gid")).isEqualTo(4343);
        }
        Path version = certs.dir().resolve(Files.readSymbolicLink(certs.dir().resolve("..data")));
        assertThat(Files.getAttribute(version, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
        assertThat(Files.getAttribute(version, "unix:gid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(4343);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(version, LinkOption.NOFOLLOW_LINKS)))
                .isEqualTo("rwxr-xr-x");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(certs.key()))).isEqualTo("rw-r-----");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(certs.chain()))).isEqualTo("rw-r--r--");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(certs.root()))).isEqualTo("rw-r--r--");
        assertThat(Files.readString(certs.key())).startsWith("-----BEGIN EC PRIVATE KEY-----");
    }

    @Test
    void eachWriteSwitchesTheWholeSetAndKeepsOnlyTheLastTwoVersions() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir);
        Issued last = null;
        for (int i = 0; i < 5; i++) {
            last = issue();
            write(certs, last, true);
            assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(last.leaf());
        }
        try (Stream<Path> entries = Files.list(dir)) {
            assertThat(entries.filter(p -> p.getFileName().toString().startsWith("..identity-")).count()).isEqualTo(2);
        }
        assertThat(Files.readString(certs.key())).startsWith("-----BEGIN PRIVATE KEY-----");
    }

    @Test
    void versionsTornByACrashAreRemovedByTheNextWrite() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir);
        write(certs, issue(), true);
        Path torn = Files.createDirectory(dir.resolve("..identity-torn"));
        Files.writeString(torn.resolve("key.pem"), "half a key");
        Issued next = issue();
        write(certs, next, true);
        assertThat(torn).doesNotExist();
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(next.leaf());
    }

    @Test
    void adoptsHandPlacedFilesWithoutAMomentOfMismatch() throws Exception {
        Issued placed = issue();
        TestPki.writeFiles(dir, Pem.encodePrivateKey(placed.keys().getPrivate(), true), List.of(placed.leaf()),
                List.of(pki.root()));
        CertsDirectory certs = new CertsDirectory(dir);
        assertThat(Files.isRegularFile(certs.key(), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(placed.leaf());

        Issued next = issue();
        write(certs, next, true);
        assertThat(Files.isSymbolicLink(certs.key())).isTrue();
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(next.leaf());
        // The hand-placed identity was kept as the previous version.
        try (Stream<Path> entries = Files.list(dir)) {
            assertThat(entries.filter(p -> p.getFileName().toString().startsWith("..identity-")).count()).isEqualTo(2);
        }
    }

    /**
     * A reader racing the writer (the first write converting hand-placed files, then switches that retire the
     * version it may be reading) sees a complete identity every time, never a problem that was not on disk.
     * CI caught this once: a load that began while key.pem was still a file and finished after the names had
     * become links reported the links as planted.
     */
    @Test
    void aReaderRacingConversionAndSwitchesAlwaysSeesACompleteIdentity() throws Exception {
        List<String> problems = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int round = 0; round < 40; round++) {
            Path certsDir = Files.createDirectory(dir.resolve("round-" + round));
            Issued placed = issue();
            TestPki.writeFiles(certsDir, Pem.encodePrivateKey(placed.keys().getPrivate(), true),
                    List.of(placed.leaf()), List.of(pki.root()));
            CertsDirectory certs = new CertsDirectory(certsDir);
            List<Issued> next = List.of(issue(), issue(), issue());
            java.util.concurrent.atomic.AtomicBoolean writing = new java.util.concurrent.atomic.AtomicBoolean(true);
            Thread reader = new Thread(() -> {
                while (writing.get()) {
                    try {
                        certs.load(EXPECT, NOW);
                    } catch (Exception e) {
                        problems.add(e.getMessage());
                    }
                }
            }, "racing-reader");
            reader.start();
            try {
                for (Issued issued : next) {
                    write(certs, issued, true);
                }
            } finally {
                writing.set(false);
                reader.join();
            }
        }
        assertThat(problems).isEmpty();
    }

    @Test
    void filesWrittenThroughTheLinksByAnOperatorAreRead() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir);
        write(certs, issue(), true);
        Issued copied = issue();
        // `cp new-key.pem /etc/certs/key.pem` writes through the link into the current version.
        Files.write(certs.key(), Pem.encodePrivateKey(copied.keys().getPrivate(), true));
        Files.writeString(certs.chain(), Pem.encodeCertificates(List.of(copied.leaf())));
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(copied.leaf());
    }

    private static List<String> versions(Path dir) throws Exception {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("..identity-")).sorted()
                    .toList();
        }
    }

    private static String allVersionBytes(Path dir) throws Exception {
        StringBuilder all = new StringBuilder();
        for (String version : versions(dir)) {
            Path v = dir.resolve(version);
            if (Files.isDirectory(v, LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> files = Files.list(v)) {
                    for (Path f : (Iterable<Path>) files::iterator) {
                        all.append(Files.readString(f));
                    }
                }
            }
        }
        return all.toString();
    }

    @Test
    void aPlantedVersionLinkToAVictimDirectoryIsLeftAloneAndNeverFollowed() throws Exception {
        VictimFile victim = VictimFile.directory(dir.resolve("victim"));
        Path certsDir = Files.createDirectories(dir.resolve("certs"));
        CertsDirectory certs = new CertsDirectory(certsDir);
        write(certs, issue(), true);
        Path planted = Files.createSymbolicLink(certsDir.resolve("..identity-x"), victim.path());
        HostileUser.own(planted);
        for (int i = 0; i < 3; i++) {
            write(certs, issue(), true);
        }
        victim.assertUntouched();
        assertThat(Files.isSymbolicLink(planted)).isTrue();
        assertThat(versions(certsDir)).hasSize(3).contains("..identity-x");
    }

    @Test
    void afterChownToEnvoysUserTheOldVersionsAreThatUsersAndNotTrustedButTheIdentityStillLoads() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir);
        Issued first = issue();
        write(certs, first, true);
        List<String> before = versions(dir);
        // The guide's `chown -R istio-proxy /etc/certs` (GNU chown -R changes the links themselves).
        VmPeerNetwork.ProcessResult chown = VmPeerNetwork.exec(List.of("chown", "-R", HostileUser.UID + ":"
                + HostileUser.GID, dir.toString()));
        assertThat(chown.exitCode()).as(chown.stderr()).isZero();
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(first.leaf());

        Issued next = issue();
        write(certs, next, true);
        write(certs, issue(), true);
        Path current = dir.resolve(Files.readSymbolicLink(dir.resolve("..data")));
        assertThat(Files.getAttribute(current, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
        // The user's directories are left alone; the agent keeps only its own current and previous versions.
        assertThat(versions(dir)).containsAll(before).hasSize(before.size() + 2);
    }

    @Test
    void handPlacedLinksToAVictimAreRefusedNeverReadAndNeverCopied() throws Exception {
        VictimFile victim = VictimFile.secretFile(dir.resolve("shadow"));
        Path certsDir = Files.createDirectories(dir.resolve("certs"));
        Issued placed = issue();
        TestPki.writeFiles(certsDir, Pem.encodePrivateKey(placed.keys().getPrivate(), true), List.of(placed.leaf()),
                List.of(pki.root()));
        for (String name : List.of("key.pem", "cert-chain.pem")) {
            Files.delete(certsDir.resolve(name));
            HostileUser.own(Files.createSymbolicLink(certsDir.resolve(name), victim.path()));
        }
        CertsDirectory certs = new CertsDirectory(certsDir);
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(certsDir.resolve("key.pem") + ": is a symbolic link; refusing to follow it; "
                        + certsDir.resolve("cert-chain.pem") + ": is a symbolic link; refusing to follow it");

        Issued next = issue();
        write(certs, next, true);
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(next.leaf());
        assertThat(versions(certsDir)).hasSize(1);
        assertThat(allVersionBytes(certsDir)).doesNotContain("victim secret");
        victim.assertUntouched();
    }

    @Test
    void aFifoOrAHugeSparseKeyIsRefusedAtOnceAndTheNextWriteReplacesIt() throws Exception {
        CertsDirectory certs = new CertsDirectory(dir);
        write(certs, issue(), true);
        Path version = dir.resolve(Files.readSymbolicLink(dir.resolve("..data")));
        // What Envoy's user can do: replace the names (its directory), not the agent's files.
        Files.delete(dir.resolve("key.pem"));
        assertThat(VmPeerNetwork.exec(List.of("mkfifo", dir.resolve("key.pem").toString())).exitCode()).isZero();
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(dir.resolve("key.pem") + ": is not a regular file (a FIFO); refusing to read it");
        Files.delete(dir.resolve("key.pem"));
        try (java.io.RandomAccessFile sparse = new java.io.RandomAccessFile(dir.resolve("key.pem").toFile(), "rw")) {
            sparse.setLength(3L << 30);
        }
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessageContaining(dir.resolve("key.pem") + ": is 3221225472 bytes, more than the 1048576 allowed");

        Issued next = issue();
        write(certs, next, true);
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(next.leaf());
        assertThat(Files.isSymbolicLink(dir.resolve("key.pem"))).isTrue();
        assertThat(version).exists();
    }

    @Test
    void aDataLinkOutOfTheDirectoryIsRefusedAndReplaced() throws Exception {
        VictimFile victim = VictimFile.directory(dir.resolve("victim"));
        Path certsDir = Files.createDirectories(dir.resolve("certs"));
        CertsDirectory certs = new CertsDirectory(certsDir);
        write(certs, issue(), true);
        Path data = certsDir.resolve("..data");
        Files.delete(data);
        HostileUser.own(Files.createSymbolicLink(data, victim.path()));
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(data + ": links to '" + victim.path() + "', not to a ..identity-* entry of " + certsDir
                        + "; refusing to follow it");
        Files.delete(data);
        HostileUser.own(Files.createSymbolicLink(data, Path.of("..identity-planted")));
        HostileUser.own(Files.createSymbolicLink(certsDir.resolve("..identity-planted"), victim.path()));
        assertThatThrownBy(() -> certs.load(EXPECT, NOW)).isInstanceOf(InvalidIdentityException.class)
                .hasMessage(certsDir.resolve("..identity-planted") + ": is a symbolic link; refusing to follow it");

        Issued next = issue();
        write(certs, next, true);
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(next.leaf());
        victim.assertUntouched();
    }

    @Test
    void temporaryNamesPlantedInAdvanceAreNeverUsed() throws Exception {
        VictimFile victim = VictimFile.secretFile(dir.resolve("shadow"));
        Path certsDir = Files.createDirectories(dir.resolve("certs"));
        // Every fixed temporary name earlier versions used, and the first fresh names one might guess.
        for (String name : List.of("..data_tmp", ".key.pem.link", ".cert-chain.pem.link", ".root-cert.pem.link",
                ".key.pem.tmp", "..identity-0", "..identity-1")) {
            HostileUser.own(Files.createSymbolicLink(certsDir.resolve(name), victim.path()));
        }
        CertsDirectory certs = new CertsDirectory(certsDir);
        Issued placed = issue();
        TestPki.writeFiles(certsDir, Pem.encodePrivateKey(placed.keys().getPrivate(), true), List.of(placed.leaf()),
                List.of(pki.root()));
        write(certs, issue(), true);
        Issued last = issue();
        write(certs, last, true);
        assertThat(certs.load(EXPECT, NOW).leaf()).isEqualTo(last.leaf());
        for (String name : List.of("..data_tmp", ".key.pem.link", "..identity-0")) {
            assertThat(Files.readSymbolicLink(certsDir.resolve(name))).isEqualTo(victim.path());
        }
        victim.assertUntouched();
    }

    @Test
    void ownerResolvesNamesFromPasswdAndFallsBackToIstiosDefault() throws Exception {
        Path passwd = dir.resolve("passwd");
        Path group = dir.resolve("group");
        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\nistio-proxy:x:998:997::/var/lib/istio:/bin/false\n");
        Files.writeString(group, "root:x:0:\n");
        Accounts accounts = Accounts.files(passwd, group);
        assertThat(FileOwner.resolve(UserRef.named("istio-proxy"), accounts)).isEqualTo(new FileOwner(998, 997));
        assertThat(FileOwner.resolve(UserRef.named("nobody-here"), accounts)).isEqualTo(new FileOwner(1337, 1337));
        assertThat(FileOwner.resolve(UserRef.uid(4242), accounts)).isEqualTo(new FileOwner(4242, 4242));

        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\nbob:x:1337:1337::/home/bob:/bin/sh\n");
        assertThatThrownBy(() -> FileOwner.resolve(UserRef.named("istio-proxy"), accounts))
                .hasMessage("VM_AGENT_CERTS_OWNER: there is no user 'istio-proxy', and the fallback uid 1337 belongs "
                        + "to the account 'bob'; create the user (useradd --system istio-proxy) or set "
                        + "VM_AGENT_CERTS_OWNER to the user (or uid) whose group may read the key");
    }
}
