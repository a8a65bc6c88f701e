package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestIdentities;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged agent ({@code run}) supervising the stand-in, with its identity from PEM files: Envoy goes LIVE,
 * a rewritten certificate reaches it over SDS, and SIGKILL of the agent leaves no Envoy behind (the kernel's
 * parent-death signal, set through setpriv, does it even when the agent gets no chance to clean up).
 */
class PackagedAgentEnvoyIT {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private EnvoyStandInFixture standIn;
    private Process agent;

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
    }

    @AfterEach
    void remove() throws Exception {
        if (agent != null) {
            agent.destroyForcibly().waitFor();
        }
        standIn.close();
    }

    @Test
    void agentRunsEnvoyAndNoEnvoyOutlivesAKilledAgent() throws Exception {
        TestIdentities ca = new TestIdentities();
        writeIdentity(ca.issue("bar", "httpbin"));
        Path configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv());
        Path log = standIn.dir().resolve("agent.log");
        agent = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", AgentProcess.jar().toString(),
                "run", "--config-dir", configDir.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();

        Await.until("Envoy LIVE under the packaged agent", WAIT,
                () -> standIn.admin("/ready").equals(Optional.of("200 LIVE\n")), () -> logText(log));
        ServedIdentity rotated = ca.issue("bar", "httpbin");
        writeIdentity(rotated);
        Await.until("rotated certificate reached Envoy", WAIT,
                () -> standIn.certChainSerials().stream().findFirst().equals(Optional.of(rotated.version())));
        List<Long> envoys = standIn.alivePids();
        assertThat(envoys).hasSize(1);

        agent.destroyForcibly().waitFor();
        Await.until("no Envoy left after SIGKILL of the agent", WAIT, () -> standIn.alivePids().isEmpty());
        assertThat(Files.readString(log)).contains("started Envoy epoch 0");
    }

    private static String logText(Path log) {
        try {
            return Files.readString(log);
        } catch (java.io.IOException e) {
            return "(no agent log: " + e + ")";
        }
    }

    private void writeIdentity(ServedIdentity identity) throws Exception {
        TestIdentities.writeFiles(identity, standIn.certsDir());
    }

}
