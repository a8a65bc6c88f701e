package io.istiovm.agent.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Calls the SDS socket from a process of another user: {@code resources/sds/SdsProbe.java}, a gRPC call written
 * with the JDK alone, run as a single source file under setpriv as {@code uid}/{@code gid} (no supplementary
 * groups, no capabilities), so that the kernel records that uid as the peer's (SO_PEERCRED) and the process needs
 * nothing from root's class path.
 */
public final class SdsProbe {
    private SdsProbe() {
    }

    /** What the server sent: how many bytes, whether a private key was among them, whether it closed. */
    public record Outcome(String line) {
        public boolean gotKey() {
            return line.contains(" key=true");
        }

        public boolean gotNothing() {
            return line.startsWith("received=0 ") && line.endsWith(" eof=true");
        }
    }

    /**
     * Runs the probe as {@code uid}/{@code gid} against {@code socket}, calling {@code method} for
     * {@code resource}; {@code scratch} must be traversable by that user (the probe's source is copied there).
     */
    public static Outcome call(Path scratch, int uid, int gid, Path socket, String method, String resource)
            throws IOException {
        Path source = scratch.resolve("SdsProbe.java");
        if (!Files.exists(source)) {
            try (InputStream in = SdsProbe.class.getResourceAsStream("/sds/SdsProbe.java")) {
                Files.copy(in, source);
            }
            Files.setPosixFilePermissions(source, PosixFilePermissions.fromString("rw-r--r--"));
        }
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid,
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xshare:auto", source.toString(),
                socket.toString(), method, resource));
        VmPeerNetwork.ProcessResult result = VmPeerNetwork.exec(command);
        String out = result.stdout().strip();
        if (result.exitCode() != 0 || !(out.startsWith("received=") || out.startsWith("connect-failed"))) {
            throw new IOException("probe as uid " + uid + " exited " + result.exitCode() + ": " + out + " "
                    + result.stderr());
        }
        return new Outcome(out);
    }
}
