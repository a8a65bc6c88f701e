package io.istiovm.agent.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A root-only file (or directory) an attack aims at, and what it held when the test made it: the bytes (for a
 * directory, its sorted entry names), the mode and the owner. {@link #assertUntouched} is the one check every
 * hostile-user test ends with.
 */
public final class VictimFile {
    private final Path path;
    private final String content;
    private final int mode;
    private final int uid;
    private final int gid;

    private VictimFile(Path path) throws IOException {
        this.path = path;
        this.content = describe(path);
        this.mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        this.uid = (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        this.gid = (Integer) Files.getAttribute(path, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    }

    /** Creates {@code path} as a root-owned 0600 file holding a secret line, and records it. */
    public static VictimFile secretFile(Path path) throws IOException {
        Files.createDirectories(path.getParent());
        Files.writeString(path, "victim secret " + System.nanoTime() + "\n");
        Files.setPosixFilePermissions(path, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        return new VictimFile(path);
    }

    /** Creates {@code path} as a root-owned 0755 directory holding two files, and records it. */
    public static VictimFile directory(Path path) throws IOException {
        Files.createDirectories(path);
        Files.writeString(path.resolve("one"), "1\n");
        Files.writeString(path.resolve("two"), "2\n");
        return new VictimFile(path);
    }

    /** Records an existing file or directory as it is now. */
    public static VictimFile record(Path path) throws IOException {
        return new VictimFile(path);
    }

    public Path path() {
        return path;
    }

    /** The victim still exists with the same content (or entries), mode and owner. */
    public void assertUntouched() throws IOException {
        assertThat(Files.exists(path, LinkOption.NOFOLLOW_LINKS)).as("%s still exists", path).isTrue();
        assertThat(describe(path)).as("content of %s", path).isEqualTo(content);
        assertThat(Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS)).as("mode of %s", path)
                .isEqualTo(mode);
        assertThat(Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS)).as("owner of %s", path)
                .isEqualTo(uid);
        assertThat(Files.getAttribute(path, "unix:gid", LinkOption.NOFOLLOW_LINKS)).as("group of %s", path)
                .isEqualTo(gid);
    }

    private static String describe(Path path) throws IOException {
        if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
            try (var entries = Files.list(path)) {
                String[] names = entries.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
                return "directory " + Arrays.toString(names);
            }
        }
        return "file " + HexFormat.of().formatHex(Files.readAllBytes(path));
    }
}
