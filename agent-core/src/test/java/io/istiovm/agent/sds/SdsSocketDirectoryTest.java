package io.istiovm.agent.sds;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SdsTestClient;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.VictimFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SDS socket's directory inside a directory Envoy's user owns (Istio hands /var/run/secrets and
 * /etc/istio/proxy to istio-proxy): that user swaps the socket's directory for a link to a victim directory between
 * starts, while the agent serves, and over and over during starts. Root never binds, chmods, chowns or removes
 * anything in the victim, which keeps its entries, modes and owners.
 */
class SdsSocketDirectoryTest {
    private static final int GROUP = 65534;

    @TempDir
    Path dir;

    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-11-26T10:00:00Z"));
    private final IdentityHolder identities = new IdentityHolder();
    private Path envoys;
    private Path socket;
    private VictimFile victim;

    @BeforeEach
    void layout() throws Exception {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        envoys = Files.createDirectories(dir.resolve("secrets"));
        HostileUser.own(envoys);
        socket = envoys.resolve("workload-spiffe-uds/socket");
        victim = VictimFile.directory(dir.resolve("victim"));
        identities.set(new TestIdentities().issue());
    }

    private SdsServer component(OptionalInt group) {
        return new SdsServer(identities, () -> new SdsSettings(socket, group, HostileUser.UID, List.of(), List.of(),
                SdsSettings.FILE_POLL_INTERVAL));
    }

    private SdsServer.Serving start() throws Exception {
        return component(OptionalInt.of(GROUP)).prepare().start(ComponentContext.of("sds", new ManualLoops(clock),
                new AgentState(clock)));
    }

    @Test
    void aDirectorySwappedForALinkBetweenStartsIsRefusedAndTheVictimUntouched() throws Exception {
        start().stop();
        HostileUser.sh("cd " + envoys + " && mv workload-spiffe-uds gone && ln -s " + victim.path()
                + " workload-spiffe-uds");

        SdsServer.Serving followed = null;
        Exception refusal = null;
        try {
            followed = start();
        } catch (Exception e) {
            refusal = e;
        }
        try {
            victim.assertUntouched();
        } finally {
            if (followed != null) {
                followed.stop();
            }
        }
        assertThat(refusal).hasMessageContaining("is a symbolic link; refusing to follow it");
        assertThat(Files.isSymbolicLink(socket.getParent())).as("the user's link left as it was").isTrue();
    }

    @Test
    void aDirectorySwappedWhileServingLeavesTheVictimUntouchedThroughReloadAndStop() throws Exception {
        SdsServer.Serving server = start();
        HostileUser.sh("cd " + envoys + " && mv workload-spiffe-uds moved && ln -s " + victim.path()
                + " workload-spiffe-uds");

        // A new group is set on the held socket and directory, not on whatever the path names now.
        assertThat(server.reload(component(OptionalInt.of(0)).prepare()).changed()).isTrue();
        Path moved = envoys.resolve("moved/socket");
        assertThat(Files.getAttribute(moved, "unix:gid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
        try (SdsTestClient client = new SdsTestClient(moved)) {
            assertThat(client.fetch(List.of("ROOTCA")).getResourcesCount()).as("still serving").isEqualTo(1);
        }
        server.stop();
        victim.assertUntouched();
        assertThat(Files.exists(moved, LinkOption.NOFOLLOW_LINKS)).as("its own socket removed").isFalse();
    }

    @Test
    void aDirectorySwappedOverAndOverDuringStartsNeverReachesTheVictim() throws Exception {
        // Envoy's user flips the socket's directory and a link to the victim as fast as it can.
        Process flipper = new ProcessBuilder("setpriv", "--reuid=" + HostileUser.UID, "--regid=" + HostileUser.GID,
                "--clear-groups", "--", "sh", "-c", "cd " + envoys + " && while :; do "
                + "mv -T workload-spiffe-uds away 2>/dev/null; ln -s " + victim.path() + " workload-spiffe-uds; "
                + "rm -f workload-spiffe-uds; mv -T away workload-spiffe-uds 2>/dev/null; done")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        int started = 0;
        int refused = 0;
        try {
            for (int i = 0; i < 30; i++) {
                SdsServer.Serving server;
                try {
                    server = start();
                } catch (Exception e) {
                    refused++;
                    continue;
                }
                started++;
                try {
                    // While it serves: nothing of it (staging directory, socket) may be in the victim.
                    victim.assertUntouched();
                } finally {
                    server.stop();
                }
            }
        } finally {
            flipper.destroyForcibly().waitFor();
        }
        System.out.println("SdsSocketDirectoryTest: under swapping, " + started + " starts, " + refused
                + " refused");
        assertThat(flipper.isAlive()).isFalse();
        assertThat(started + refused).isEqualTo(30);
        victim.assertUntouched();
    }
}
