package io.istiovm.agent.ca;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Loops;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.certs.Pem;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.util.List;

/** What the identity tests run the assembly's identity area on. */
final class IdentityAreas {
    private IdentityAreas() {
    }

    /**
     * A runtime on {@code loops}' clock with a file watch of its own (close the runtime) and /etc, /proc under
     * {@code scratch} (no passwd there: the tests give the files' owner as a uid).
     */
    static AgentRuntime runtime(Path scratch, Loops loops) {
        return new AgentRuntime(loops.clock(), loops, new FileEvents(FileSystems.getDefault()),
                new HostPaths(scratch.resolve("etc"), scratch.resolve("proc")), CliRun.TEST_HOST);
    }

    /**
     * A VM before enrolment: only the mesh's root in {@code certs}, and {@code bearer} in the token file (mode
     * 0600, as the agent demands); returns the token file.
     */
    static Path beforeEnrolment(Path certs, X509Certificate root, Path token, String bearer) throws IOException {
        Files.createDirectories(certs);
        Files.writeString(certs.resolve("root-cert.pem"), Pem.encodeCertificates(List.of(root)));
        Files.writeString(token, bearer + "\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        return token;
    }
}
