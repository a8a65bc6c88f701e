package io.istiovm.agent.it.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.it.envoy.SupervisedEnvoy;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.VictimFile;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Envoy's process, admin API and output against hostile local users: Envoy's user (its bootstrap directory handed
 * to uid {@value HostileUser#UID}, as the guide's {@code chown -R istio-proxy} does, and able to kill its own
 * Envoy), and a user who is not Envoy's at all (uid 4242). Every test ends with the victims untouched and the
 * agent's Envoy LIVE.
 */
class EnvoyHostileIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int STRANGER = 4242;

    private EnvoyStandInFixture standIn;

    @BeforeEach
    void createStandIn() throws Exception {
        standIn = new EnvoyStandInFixture();
    }

    @AfterEach
    void removeStandIn() throws Exception {
        standIn.close();
    }

    @Test
    void linksPlantedAtEveryBootstrapNameAndTempNameAreNeverFollowedWhenTheAttackerForcesARewrite()
            throws Exception {
        Path proxy = standIn.dir().resolve("proxy");
        HostileUser.own(proxy);
        Path victims = Files.createDirectories(standIn.dir().resolve("victims"));
        List<VictimFile> planted = new ArrayList<>();
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn, "VM_AGENT_ENVOY_RESTART_BACKOFF=10ms").start()) {
            Await.until("LIVE", WAIT, envoy::ready);
            long first = envoy.supervisor().status().pid().getAsLong();
            // Every name the agent writes a bootstrap under, final and temporary, for the next epochs.
            StringBuilder links = new StringBuilder();
            for (int epoch = 0; epoch < 3; epoch++) {
                for (String name : List.of("envoy-rev" + epoch + ".json", ".envoy-rev" + epoch + ".json.tmp")) {
                    VictimFile victim = VictimFile.secretFile(victims.resolve(name + ".victim"));
                    planted.add(victim);
                    links.append("rm -f '").append(proxy.resolve(name)).append("'; ln -s '").append(victim.path())
                            .append("' '").append(proxy.resolve(name)).append("'; ");
                }
            }
            HostileUser.sh(links.toString());
            // Envoy's user kills its own Envoy: epoch 0 is written again.
            VmPeerNetwork.ProcessResult kill = VmPeerNetwork.exec(List.of("setpriv",
                    "--reuid=" + EnvoyStandInFixture.ENVOY_UID, "--regid=" + EnvoyStandInFixture.ENVOY_UID,
                    "--clear-groups", "--", "kill", "-9", Long.toString(first)));
            assertThat(kill.exitCode()).as(kill.stderr()).isZero();
            Await.until("a new Envoy LIVE", WAIT, () -> envoy.ready()
                    && envoy.supervisor().status().pid().orElse(first) != first);
            // And a reload hot-restarts into epoch 1, whose names are links too.
            envoy.reload("ISTIO_META_MESH_ID=mesh-1");
            Await.until("epoch 1 LIVE", WAIT, () -> envoy.ready()
                    && envoy.supervisor().status().epoch().orElse(-1) == 1);

            for (VictimFile victim : planted) {
                victim.assertUntouched();
            }
            for (String name : List.of("envoy-rev0.json", "envoy-rev1.json")) {
                Path file = proxy.resolve(name);
                if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                    assertThat(Files.isSymbolicLink(file)).as(name + " replaced, not followed").isFalse();
                    assertThat(Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
                }
            }
            assertThat(Files.readString(proxy.resolve("envoy-rev1.json"))).contains("mesh-1");
        }
    }

    @Test
    void aUserWhoIsNotEnvoysCannotReachTheAdminApiNorQuitEnvoy() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            Await.until("LIVE", WAIT, envoy::ready);
            long pid = envoy.supervisor().status().pid().getAsLong();
            Path socket = standIn.adminSocket();
            for (String method : List.of("GET /server_info", "POST /quitquitquit", "POST /healthcheck/fail")) {
                VmPeerNetwork.ProcessResult attempt = stranger("curl", "-sS", "--max-time", "3", "--unix-socket",
                        socket.toString(), "-X", method.split(" ")[0], "http://admin" + method.split(" ")[1]);
                // curl exit 7: could not connect (connect(2) on the socket failed).
                assertThat(attempt.exitCode()).as(method + ": " + attempt.stderr()).isEqualTo(7);
            }
            // Why: the stranger may not even look up the socket's name.
            VmPeerNetwork.ProcessResult look = stranger("stat", socket.toString());
            assertThat(look.exitCode()).isNotZero();
            assertThat(look.stderr()).containsIgnoringCase("Permission denied");
            // Nor over TCP: nothing listens on the admin port.
            VmPeerNetwork.ProcessResult tcp = stranger("curl", "-sS", "--max-time", "3", "-X", "POST",
                    "http://127.0.0.1:" + standIn.adminPort() + "/quitquitquit");
            assertThat(tcp.exitCode()).as(tcp.stderr()).isEqualTo(7);

            assertThat(standIn.records()).noneMatch(r -> r.contains("quitquitquit") || r.contains("healthcheck"));
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).hasValue(true);
            assertThat(envoy.ready()).isTrue();
            // The agent itself (root) still reaches it.
            assertThat(standIn.admin("/server_info").orElseThrow()).startsWith("200 ").contains("\"state\":\"LIVE\"");
        }
    }

    @Test
    void aTenMegabyteLineOnEnvoysOutputIsCutAndMarkedAndTheAgentStaysUp() throws Exception {
        standIn.faults("long_line_bytes=" + (10 * 1024 * 1024));
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            Await.until("LIVE", WAIT, envoy::ready);
            Await.until("the long line read", WAIT, () -> envoy.supervisor().status().outputLinesCut() == 1);
            // 16 KiB of the line and the marker " … [cut: 10469376 more bytes]", nothing more.
            assertThat(envoy.supervisor().status().longestOutputLine()).isEqualTo(16384
                    + " … [cut: 10469376 more bytes]".length());
            assertThat(envoy.ready()).isTrue();
            assertThat(standIn.admin("/server_info").orElseThrow()).contains("\"state\":\"LIVE\"");
        }
    }

    private static VmPeerNetwork.ProcessResult stranger(String... command) throws Exception {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + STRANGER, "--regid=" + STRANGER,
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"));
        full.addAll(List.of(command));
        return VmPeerNetwork.exec(full);
    }
}
