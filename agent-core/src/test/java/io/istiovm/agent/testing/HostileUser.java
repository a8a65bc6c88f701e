package io.istiovm.agent.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The attacker of SECURITY.md: code running as Envoy's user (uid and gid 1337, Istio's fallback, no supplementary
 * groups, no capabilities). Attacks that need only that user's rights run through {@link #run}, a real process
 * under setpriv, so the kernel, not the test, decides what the user can do; {@link #own} hands a planted entry to
 * that user without following it, as if the user had made it.
 */
public final class HostileUser {
    public static final int UID = 1337;
    public static final int GID = 1337;

    private HostileUser() {
    }

    /** Runs {@code command} as the hostile user and returns its exit code and output. */
    public static VmPeerNetwork.ProcessResult run(String... command) throws IOException {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + UID, "--regid=" + GID,
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"));
        full.addAll(List.of(command));
        return VmPeerNetwork.exec(full);
    }

    /** Runs a shell snippet as the hostile user; fails when it fails. */
    public static String sh(String script) throws IOException {
        VmPeerNetwork.ProcessResult result = run("sh", "-c", script);
        if (result.exitCode() != 0) {
            throw new IOException("as uid " + UID + ": " + script + " exited " + result.exitCode() + ": "
                    + result.stderr());
        }
        return result.stdout();
    }

    /** Makes {@code path} (not what it links to) the hostile user's. */
    public static void own(Path path) throws IOException {
        Files.setAttribute(path, "unix:uid", UID, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", GID, LinkOption.NOFOLLOW_LINKS);
    }

    /** Gives a directory tree to the hostile user, as the guide's {@code chown -R istio-proxy} does. */
    public static void ownTree(Path root) throws IOException {
        try (var walk = Files.walk(root)) {
            for (Path path : (Iterable<Path>) walk::iterator) {
                own(path);
            }
        }
    }
}
