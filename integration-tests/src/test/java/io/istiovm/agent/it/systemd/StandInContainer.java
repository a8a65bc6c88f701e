package io.istiovm.agent.it.systemd;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.it.systemd.SystemdContainer.Bind;
import io.istiovm.agent.testing.TestCa;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the tests of the agent under systemd share: a booted container with the repository bound in read-only
 * (the Envoy stand-in's classpath lives at the same host paths inside), {@code target/} and the stand-in's socket
 * directory writable, the stand-in fixture, and the test CA on the host end of the container's veth with
 * two-hour identities. {@link #close} takes it all down again, the socket directory too when nothing else uses it.
 */
public final class StandInContainer implements AutoCloseable {
    private static final Path REPO = AgentProcess.repositoryRoot();
    private static final Path TARGET = REPO.resolve("integration-tests/target");
    private static final Pattern PRIORITY = Pattern.compile("\"PRIORITY\":\"(\\d)\"");

    private final Path sockets;
    private final EnvoyStandInFixture standIn;
    private SystemdContainer box;
    private TestCa ca;

    private StandInContainer(Path sockets, EnvoyStandInFixture standIn) {
        this.sockets = sockets;
        this.standIn = standIn;
    }

    /**
     * @param sockets   the stand-in's socket directory: not under /tmp, which the container's systemd-tmpfiles
     *                  empties at boot
     * @param artifacts the directory under integration-tests/target for the container's console and journal
     */
    public static StandInContainer boot(Path sockets, String artifacts) throws IOException, InterruptedException {
        Files.createDirectories(sockets);
        Files.setPosixFilePermissions(sockets, PosixFilePermissions.fromString("rwxr-xr-x"));
        StandInContainer fixture = new StandInContainer(sockets, new EnvoyStandInFixture(sockets));
        try {
            fixture.box = SystemdContainer.boot(List.of(Bind.readOnly(REPO), Bind.writable(TARGET),
                    Bind.writable(sockets)), TARGET.resolve(artifacts));
            System.out.println("systemd container: " + fixture.box.timings());
            fixture.ca = TestCa.start(Clock.systemUTC(), fixture.box.hostAddress()).ttl(Duration.ofHours(2));
        } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
            fixture.close();
            throw e;
        }
        return fixture;
    }

    public SystemdContainer box() {
        return box;
    }

    public EnvoyStandInFixture standIn() {
        return standIn;
    }

    public TestCa ca() {
        return ca;
    }

    /** The distinct PRIORITY values of a {@code journalctl -o json} text. */
    public static Set<String> priorities(String json) {
        Set<String> found = new TreeSet<>();
        Matcher m = PRIORITY.matcher(json);
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }

    @Override
    public void close() throws IOException {
        try {
            if (box != null) {
                box.close();
            }
        } finally {
            standIn.close();
            if (ca != null) {
                ca.close();
            }
            try {
                Files.deleteIfExists(sockets);
            } catch (java.nio.file.DirectoryNotEmptyException e) {
                // another fixture's sockets are still there
            }
        }
    }
}
