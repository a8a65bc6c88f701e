package io.istiovm.agent.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What another user who owns the directory can plant, against real files in a scratch tree: links at the file's
 * name, at its temporary name, and in the directory's place. The victim file outside stays exactly as it was.
 */
class HeldDirectoryTest {
    @TempDir
    Path tmp;
    private Path dir;
    private Path victim;

    @BeforeEach
    void plant() throws IOException {
        dir = Files.createDirectories(tmp.resolve("proxy"));
        victim = tmp.resolve("victim");
        Files.writeString(victim, "secret\n");
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rw-------"));
    }

    private void assertVictimUntouched() throws IOException {
        assertThat(Files.readString(victim)).isEqualTo("secret\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(victim))).isEqualTo("rw-------");
    }

    private static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void writesAtomicallyWithTheModeSetOnTheDescriptor() throws IOException {
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            held.writeAtomically("envoy-rev0.json", "{}".getBytes(StandardCharsets.UTF_8), 0644);
            held.writeAtomically("envoy-rev0.json", "{\"a\":1}".getBytes(StandardCharsets.UTF_8), 0644);
        }
        assertThat(Files.readString(dir.resolve("envoy-rev0.json"))).isEqualTo("{\"a\":1}");
        assertThat(mode(dir.resolve("envoy-rev0.json"))).isEqualTo("rw-r--r--");
        try (var entries = Files.list(dir)) {
            assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("envoy-rev0.json");
        }
    }

    @Test
    void aLinkAtTheFilesNameIsReplacedNotFollowed() throws IOException {
        Files.createSymbolicLink(dir.resolve("envoy-rev0.json"), victim);
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            held.writeAtomically("envoy-rev0.json", "{}".getBytes(StandardCharsets.UTF_8), 0644);
        }
        assertThat(Files.isSymbolicLink(dir.resolve("envoy-rev0.json"))).isFalse();
        assertVictimUntouched();
    }

    @Test
    void aLinkAtTheTemporaryNameIsRemovedNotOpened() throws IOException {
        Files.createSymbolicLink(dir.resolve(".envoy-rev0.json.tmp"), victim);
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            held.writeAtomically("envoy-rev0.json", "{}".getBytes(StandardCharsets.UTF_8), 0644);
        }
        assertThat(Files.exists(dir.resolve(".envoy-rev0.json.tmp"), LinkOption.NOFOLLOW_LINKS)).isFalse();
        assertVictimUntouched();
    }

    @Test
    void aLinkInTheDirectorysPlaceIsRefused() throws IOException {
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), elsewhere);
        assertThatThrownBy(() -> HeldDirectory.open(link)).isInstanceOf(IOException.class)
                .hasMessage(link + ": is a symbolic link; refusing to follow it");
        assertThatThrownBy(() -> HeldDirectory.openOrCreate(link, 0750, OptionalInt.empty()))
                .isInstanceOf(IOException.class).hasMessageContaining("symbolic link");
        try (var entries = Files.list(elsewhere)) {
            assertThat(entries).as("nothing made through the link").isEmpty();
        }
    }

    @Test
    void deleteRemovesALinkNotItsTarget() throws IOException {
        Files.createSymbolicLink(dir.resolve("envoy_shared_memory_0"), victim);
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            assertThat(held.delete("envoy_shared_memory_0")).isTrue();
            assertThat(held.delete("envoy_shared_memory_0")).isFalse();
        }
        assertVictimUntouched();
    }

    @Test
    void onlyADirectoryItCreatesGetsTheModeAndGroup() throws IOException {
        HeldDirectory.Opened created = HeldDirectory.openOrCreate(tmp.resolve("run/sds"), 0750, OptionalInt.of(4242));
        created.directory().close();
        assertThat(created.created()).isTrue();
        assertThat(mode(tmp.resolve("run/sds"))).isEqualTo("rwxr-x---");
        assertThat(Files.getAttribute(tmp.resolve("run/sds"), "unix:gid")).isEqualTo(4242);

        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxr-x"));
        HeldDirectory.Opened existing = HeldDirectory.openOrCreate(dir, 0750, OptionalInt.of(4242));
        existing.directory().close();
        assertThat(existing.created()).isFalse();
        assertThat(mode(dir)).isEqualTo("rwxrwxr-x");
    }

    @Test
    void namesThatLeaveTheDirectoryAreRefused() throws IOException {
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            for (String name : new String[] {"..", "../victim", "", "a/b"}) {
                assertThatThrownBy(() -> held.delete(name)).isInstanceOf(IllegalArgumentException.class);
            }
        }
        assertVictimUntouched();
    }

    @Test
    void readsARegularFileWithItsOwnerAndMode() throws IOException {
        Files.writeString(dir.resolve("key.pem"), "pem\n");
        Files.setPosixFilePermissions(dir.resolve("key.pem"), PosixFilePermissions.fromString("rw-r-----"));
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            HeldDirectory.RegularFile file = held.readRegularFile("key.pem", 100);
            assertThat(file.text()).isEqualTo("pem\n");
            assertThat(file.mode()).isEqualTo(0640);
            assertThat(file.uid()).isEqualTo(Files.getAttribute(dir.resolve("key.pem"), "unix:uid"));
        }
        assertThat(HeldDirectory.readRegularFile(dir.resolve("key.pem"), 100).text()).isEqualTo("pem\n");
    }

    @Test
    void readRefusesALinkAFifoAndAFileOverTheLimitWithoutBlocking() throws Exception {
        Files.createSymbolicLink(dir.resolve("link.pem"), victim);
        Process mkfifo = new ProcessBuilder("mkfifo", dir.resolve("fifo.pem").toString()).start();
        assertThat(mkfifo.waitFor()).isZero();
        try (java.io.RandomAccessFile sparse = new java.io.RandomAccessFile(dir.resolve("big.pem").toFile(), "rw")) {
            sparse.setLength(3L << 30);
        }
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            assertThatThrownBy(() -> held.readRegularFile("link.pem", 100))
                    .hasMessageEndingWith("link.pem: is a symbolic link; refusing to follow it");
            assertThatThrownBy(() -> held.readRegularFile("fifo.pem", 100))
                    .hasMessageEndingWith("fifo.pem: is not a regular file (a FIFO); refusing to read it");
            assertThatThrownBy(() -> held.readRegularFile("big.pem", 1 << 20))
                    .hasMessageEndingWith("big.pem: is 3221225472 bytes, more than the 1048576 allowed");
            assertThatThrownBy(() -> held.readRegularFile("missing.pem", 100))
                    .isInstanceOf(java.nio.file.NoSuchFileException.class);
        }
        assertThatThrownBy(() -> HeldDirectory.readRegularFile(dir.resolve("link.pem"), 100))
                .hasMessageEndingWith("link.pem: is a symbolic link; refusing to follow it");
        assertVictimUntouched();
    }

    @Test
    void aFreshDirectorySwappedBeforeItIsOpenedIsRefused() throws Exception {
        Path victimDir = Files.createDirectories(tmp.resolve("victim-dir"));
        Files.writeString(victimDir.resolve("one"), "1\n");
        Path proxyOwned = Files.createDirectories(tmp.resolve("proxy-owned"));
        Files.setAttribute(proxyOwned, "unix:uid", 1337);
        for (Path replacement : List.of(victimDir, proxyOwned)) {
            HeldDirectory.afterFreshDirectory = (held, name) -> {
                try {
                    Path made = dir.resolve(name);
                    Files.move(made, dir.resolve("stolen-" + name));
                    if (replacement == victimDir) {
                        Files.createSymbolicLink(made, replacement);
                    } else {
                        Files.move(replacement, made);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            };
            try (HeldDirectory held = HeldDirectory.open(dir)) {
                assertThatThrownBy(() -> held.makeFreshDirectory("..identity-")).isInstanceOf(IOException.class)
                        .hasMessageContaining(replacement == victimDir ? "is a symbolic link; refusing to follow it"
                                : "was replaced after it was created (owner 1337");
            } finally {
                HeldDirectory.afterFreshDirectory = (held, name) -> {
                };
            }
        }
        try (var entries = Files.list(victimDir)) {
            assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("one");
        }
    }

    @Test
    void aFreshDirectoryIsPrivateAndItsNameUnpredictable() throws IOException {
        try (HeldDirectory held = HeldDirectory.open(dir);
             HeldDirectory first = held.makeFreshDirectory("..identity-");
             HeldDirectory second = held.makeFreshDirectory("..identity-")) {
            assertThat(first.name()).startsWith("..identity-").isNotEqualTo(second.name());
            assertThat(first.describe().mode()).isEqualTo(0700);
            assertThat(first.describe().uid()).isEqualTo(HeldDirectory.processUid());
        }
    }

    @Test
    void deleteOwnedTreeRemovesOnlyWhatTheOwnerMadeAndNeverFollowsALink() throws IOException {
        Path version = Files.createDirectories(dir.resolve("..identity-a"));
        Files.writeString(version.resolve("key.pem"), "key\n");
        Files.createSymbolicLink(version.resolve("link"), victim);
        Files.createDirectories(version.resolve("sub"));
        Files.writeString(version.resolve("sub/cert.pem"), "cert\n");
        Path foreign = Files.writeString(version.resolve("foreign.pem"), "planted\n");
        Files.setAttribute(foreign, "unix:uid", 1337);
        Path foreignDir = Files.createDirectories(dir.resolve("..identity-b"));
        Files.writeString(foreignDir.resolve("key.pem"), "key\n");
        Files.setAttribute(foreignDir, "unix:uid", 1337);
        Files.createSymbolicLink(dir.resolve("..identity-c"), victim.getParent());
        int root = HeldDirectory.processUid();
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            assertThat(held.deleteOwnedTree("..identity-a", root)).containsExactly(foreign, version);
            assertThat(held.deleteOwnedTree("..identity-b", root)).containsExactly(foreignDir);
            assertThat(held.deleteOwnedTree("..identity-c", root)).containsExactly(dir.resolve("..identity-c"));
            Files.delete(foreign);
            assertThat(held.deleteOwnedTree("..identity-a", root)).isEmpty();
        }
        assertThat(version).doesNotExist();
        assertThat(foreignDir.resolve("key.pem")).exists();
        assertThat(Files.isSymbolicLink(dir.resolve("..identity-c"))).isTrue();
        assertVictimUntouched();
    }

    @Test
    void createFileRefusesAPlantedLinkAndReplaceWithLinkReplacesOne() throws IOException {
        Files.createSymbolicLink(dir.resolve("key.pem"), victim);
        Files.createSymbolicLink(dir.resolve("..data"), victim);
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            assertThatThrownBy(() -> held.createFile("key.pem", "x".getBytes(StandardCharsets.UTF_8), 0600,
                    OptionalInt.empty())).isInstanceOf(IOException.class).hasMessageContaining("cannot be created");
            held.replaceWithLink("..data", "..identity-a");
            assertThat(held.readLink("..data")).contains("..identity-a");
            assertThat(held.readLink("key.pem")).contains(victim.toString());
            assertThat(held.stat("..data").orElseThrow().type()).isEqualTo(HeldDirectory.EntryType.SYMBOLIC_LINK);
        }
        assertVictimUntouched();
    }
}
