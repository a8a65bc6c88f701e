package io.istiovm.agent.it.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.SdsProbe;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.testing.VictimFile;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * SDS of the packaged agent ({@code run}, supervising the Envoy stand-in as uid 65534) against local attackers:
 * another user in Envoy's group calling FetchSecrets and StreamSecrets; Envoy's user asking for a root-only key
 * through a link it planted; Envoy's user swapping the socket's directory for a link to a victim directory after the
 * agent was SIGKILLed. Each ends with the victims byte-identical (same mode, owner), the agent up or refusing with
 * exit 74 and the reason, and the certificate still reaching Envoy after a rotation.
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): each method's agent,
 * stand-in (own directories, free ports), identities and victims are its own, under its own directories.
 */
@Execution(ExecutionMode.CONCURRENT)
class SdsHostileIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int ENVOY_UID = EnvoyStandInFixture.ENVOY_UID;
    private static final int OTHER_UID = 4242;

    private final TestIdentities ca = new TestIdentities();
    private EnvoyStandInFixture standIn;
    private Path configDir;
    private Path secrets;
    private Path envoyFiles;
    private Path scratch;
    private AgentProcess agent;

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
        TestIdentities.writeFiles(ca.issue("bar", "httpbin"), standIn.certsDir());
        configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        // Istio hands /var/run/secrets to istio-proxy: the socket's directory lies in Envoy's user's directory.
        // (The fixture's short sockets directory: a unix socket's path holds at most 107 bytes, and Envoy's admin
        // socket goes beside the SDS socket's directory, where the fixture queries it.)
        secrets = standIn.socketsDir();
        envoyFiles = Files.createDirectories(standIn.dir().resolve("envoy-certs"));
        for (Path owned : List.of(secrets, envoyFiles)) {
            Files.setAttribute(owned, "unix:uid", ENVOY_UID);
            Files.setAttribute(owned, "unix:gid", ENVOY_UID);
        }
        scratch = Files.createDirectories(standIn.dir().resolve("probe"));
        Files.setPosixFilePermissions(scratch, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv(
                "VM_AGENT_SDS_SOCKET=" + socket(),
                "VM_AGENT_SDS_FILE_DIRS=" + envoyFiles));
    }

    @AfterEach
    void remove() throws Exception {
        if (agent != null) {
            agent.close();
        }
        standIn.close();
    }

    private Path socket() {
        return secrets.resolve("uds/socket");
    }

    private void startAgentUntilLive() throws Exception {
        agent = AgentProcess.start(standIn.dir().resolve("agent.log"), Map.of(), "run", "--config-dir",
                configDir.toString());
        Await.until("Envoy LIVE (its SDS stream served)", WAIT,
                () -> standIn.admin("/ready").equals(Optional.of("200 LIVE\n")), agent::logText);
    }

    /** A rotation after the attack still reaches Envoy over SDS. */
    private void assertRotationReachesEnvoy() throws Exception {
        ServedIdentity rotated = ca.issue("bar", "httpbin");
        TestIdentities.writeFiles(rotated, standIn.certsDir());
        Await.until("rotated certificate reached Envoy", WAIT,
                () -> standIn.certChainSerials().stream().findFirst().equals(Optional.of(rotated.version())),
                agent::logText);
    }

    @Test
    void noLocalUserButEnvoyGetsAKeyAndEnvoysUserGetsNoRootOnlyFile() throws Exception {
        // A root-only key outside anything SDS serves, and Envoy's user's link to it where SDS may read files.
        ServedIdentity other = new TestIdentities().issue();
        Path victimDir = Files.createDirectories(standIn.dir().resolve("root-only"));
        Files.setPosixFilePermissions(victimDir, PosixFilePermissions.fromString("rwx------"));
        Path victimKey = Files.writeString(victimDir.resolve("key.pem"), other.privateKeyPem());
        Files.setPosixFilePermissions(victimKey, PosixFilePermissions.fromString("rw-------"));
        VictimFile victim = VictimFile.record(victimKey);
        startAgentUntilLive();
        String plant = "cd " + envoyFiles + " && printf '%s' '" + other.certificateChainPem() + "' > chain.pem && "
                + "ln -s " + victimKey + " key.pem && printf '%s' '" + other.privateKeyPem() + "' > own-key.pem";
        assertThat(VmPeerNetwork.exec(List.of("setpriv", "--reuid=" + ENVOY_UID, "--regid=" + ENVOY_UID,
                "--clear-groups", "--", "sh", "-c", plant)).exitCode()).isZero();

        SdsProbe.Outcome envoy = SdsProbe.call(scratch, ENVOY_UID, ENVOY_UID, socket(), "FetchSecrets", "default");
        assertThat(envoy.gotKey()).as("Envoy's uid is served (the probe works): " + envoy.line()).isTrue();
        SdsProbe.Outcome ownFiles = SdsProbe.call(scratch, ENVOY_UID, ENVOY_UID, socket(), "FetchSecrets",
                "file-cert:" + envoyFiles.resolve("chain.pem") + "~" + envoyFiles.resolve("own-key.pem"));
        assertThat(ownFiles.gotKey()).as("Envoy's user's own files are served (long names work): "
                + ownFiles.line()).isTrue();
        for (String method : List.of("FetchSecrets", "StreamSecrets")) {
            SdsProbe.Outcome stranger = SdsProbe.call(scratch, OTHER_UID, ENVOY_UID, socket(), method, "default");
            assertThat(stranger.gotNothing()).as("uid " + OTHER_UID + " in Envoy's group, " + method + ": "
                    + stranger.line()).isTrue();
            SdsProbe.Outcome throughLink = SdsProbe.call(scratch, ENVOY_UID, ENVOY_UID, socket(), method,
                    "file-cert:" + envoyFiles.resolve("chain.pem") + "~" + envoyFiles.resolve("key.pem"));
            assertThat(throughLink.gotKey()).as("Envoy's user's link to a root-only key, " + method + ": "
                    + throughLink.line()).isFalse();
            SdsProbe.Outcome outside = SdsProbe.call(scratch, ENVOY_UID, ENVOY_UID, socket(), method,
                    "file-cert:" + victimKey + "~" + victimKey);
            assertThat(outside.gotKey()).as("a key outside VM_AGENT_SDS_FILE_DIRS, " + method + ": "
                    + outside.line()).isFalse();
        }

        victim.assertUntouched();
        assertThat(agent.isAlive()).isTrue();
        assertThat(agent.logText()).contains("SDS: refused a connection from uid " + OTHER_UID)
                .doesNotContain(other.privateKeyPem().lines().skip(1).findFirst().orElseThrow());
        assertRotationReachesEnvoy();
    }

    @Test
    void aSocketDirectorySwappedForALinkAfterTheAgentWasKilledIsRefusedAndTheVictimUntouched() throws Exception {
        VictimFile victim = VictimFile.directory(standIn.dir().resolve("victim"));
        startAgentUntilLive();
        agent.kill();
        agent = null;
        Await.until("Envoy gone with its agent", WAIT, () -> standIn.alivePids().isEmpty());
        assertThat(Files.exists(socket())).as("SIGKILL left the socket").isTrue();

        String swap = "cd " + secrets + " && mv -T uds kept && ln -s " + victim.path() + " uds";
        assertThat(VmPeerNetwork.exec(List.of("setpriv", "--reuid=" + ENVOY_UID, "--regid=" + ENVOY_UID,
                "--clear-groups", "--", "sh", "-c", swap)).exitCode()).isZero();
        AgentProcess refused = AgentProcess.start(standIn.dir().resolve("refused.log"), Map.of(), "run",
                "--config-dir", configDir.toString());
        int exit = refused.waitFor(WAIT);
        victim.assertUntouched();
        assertThat(exit).as(refused.logText()).isEqualTo(74);
        assertThat(refused.logText()).contains(secrets.resolve("uds")
                + ": is a symbolic link; refusing to follow it");

        // Once the link is gone, the next start replaces the killed agent's stale socket and serves again.
        String restore = "cd " + secrets + " && rm uds && mv -T kept uds";
        assertThat(VmPeerNetwork.exec(List.of("setpriv", "--reuid=" + ENVOY_UID, "--regid=" + ENVOY_UID,
                "--clear-groups", "--", "sh", "-c", restore)).exitCode()).isZero();
        startAgentUntilLive();
        assertRotationReachesEnvoy();
        victim.assertUntouched();
    }
}
