package io.istiovm.agent.sds;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SdsProbe;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestIdentities;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who SDS serves, decided by the peer's credentials (SO_PEERCRED): a real process of another uid, in Envoy's group
 * (so the socket's mode lets it connect), calls FetchSecrets and StreamSecrets. The same probe gets the key when its
 * uid is Envoy's, and not one byte when it is not.
 */
class SdsPeerCredentialsTest {
    private static final int OTHER_UID = 4242;
    private static final int ENVOY_GROUP = 65534;

    @TempDir
    Path dir;

    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-11-26T10:00:00Z"));
    private final IdentityHolder identities = new IdentityHolder();
    private Path scratch;
    private SdsServer.Serving server;

    @BeforeEach
    void start() throws Exception {
        // The other user must reach the socket: only the socket's own mode and group stand in its way.
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        scratch = Files.createDirectories(dir.resolve("probe"));
        identities.set(new TestIdentities().issue());
        server = component(OTHER_UID).prepare().start(ComponentContext.of("sds", new ManualLoops(clock),
                new AgentState(clock)));
    }

    private SdsServer component(int envoyUid) {
        Path socket = dir.resolve("sds/socket");
        return new SdsServer(identities, () -> new SdsSettings(socket, OptionalInt.of(ENVOY_GROUP), envoyUid,
                List.of(), List.of(), SdsSettings.FILE_POLL_INTERVAL));
    }

    @AfterEach
    void stop() throws Exception {
        server.stop();
    }

    private SdsProbe.Outcome probe(String method) throws Exception {
        return SdsProbe.call(scratch, OTHER_UID, ENVOY_GROUP, server.socket(), method, "default");
    }

    @Test
    void envoysUidGetsItsKeyAndAfterAReloadToAnotherUidTheSameProcessGetsNothing() throws Exception {
        assertThat(probe("FetchSecrets").gotKey()).as("served while its uid is Envoy's").isTrue();
        assertThat(server.refusedPeers()).isEmpty();

        assertThat(server.reload(component(1337).prepare()).changed()).isTrue();
        SdsProbe.Outcome refused = probe("FetchSecrets");
        assertThat(refused.gotNothing()).as(refused.line()).isTrue();
        assertThat(server.refusedPeers()).singleElement().satisfies(peer -> {
            assertThat(peer.uid()).isEqualTo(OTHER_UID);
            assertThat(peer.gid()).isEqualTo(ENVOY_GROUP);
        });
    }

    @Test
    void anotherUidInEnvoysGroupIsClosedBeforeAnyByteOnEitherCall() throws Exception {
        server.reload(component(1337).prepare());
        for (String method : List.of("StreamSecrets", "FetchSecrets")) {
            SdsProbe.Outcome outcome = probe(method);
            assertThat(outcome.gotNothing()).as(method + ": " + outcome.line()).isTrue();
            assertThat(outcome.gotKey()).isFalse();
        }
        assertThat(server.refusedPeers()).hasSize(2).allSatisfy(peer -> assertThat(peer.uid()).isEqualTo(OTHER_UID));
        assertThat(server.streams()).isEmpty();
    }
}
