package io.istiovm.agent.fs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Follows the symbolic links at the end of a path only when the agent's own user (root) made them. An operator may
 * point a file at another (NixOS links /etc/hosts into /etc/static); a link someone else planted is refused, so
 * that a user who can write a directory cannot send root's write or read through it to a file of their choosing.
 * The directories leading to each link are resolved by the kernel; keeping them root's is the configuration trust
 * check's job.
 */
public final class TrustedLinks {
    /** As many links as Linux follows in one lookup (MAXSYMLINKS). */
    private static final int MAX_LINKS = 40;

    private TrustedLinks() {
    }

    /**
     * The absolute path of the entry that is not a link which {@code path} leads to, its directory resolved; the
     * entry may not exist (a file about to be created).
     *
     * @throws IOException when a link on the way is owned by another user, or links loop
     */
    public static Path resolve(Path path) throws IOException {
        Path current = path.toAbsolutePath().normalize();
        int owner = ownUid();
        for (int links = 0; links <= MAX_LINKS; links++) {
            Path parent = current.getParent();
            if (parent == null) {
                return current;
            }
            Path directory = parent.toRealPath();
            current = directory.resolve(current.getFileName());
            Map<String, Object> attributes;
            try {
                attributes = Files.readAttributes(current, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                return current;
            }
            if (((Integer) attributes.get("mode") & 0170000) != 0120000) {
                return current;
            }
            int uid = (Integer) attributes.get("uid");
            if (uid != owner && uid != 0) {
                throw new IOException(current + ": is a symbolic link owned by uid " + uid + "; only links owned by "
                        + "root are followed (replace it with the file, or have root create the link)");
            }
            current = directory.resolve(Files.readSymbolicLink(current)).normalize();
        }
        throw new IOException(path + ": is a symbolic link loop");
    }

    /** The agent's effective uid: the owner of its own /proc entry. */
    public static int ownUid() throws IOException {
        return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    }
}
