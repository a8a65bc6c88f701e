package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestIdentities;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged agent's status port, as Envoy's readiness listener, Prometheus and {@code istio-vm-agent status}
 * reach it: 503 with the reason while Envoy (the stand-in, held not LIVE) is not ready, 200 once a restarted
 * stand-in is LIVE, and the merged metrics with the stand-in's own families after the agent's.
 */
class StatusEndpointIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private EnvoyStandInFixture standIn;
    private Process agent;
    private Path log;

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
    }

    @AfterEach
    void remove() throws Exception {
        if (agent != null) {
            agent.destroy();
            agent.waitFor();
        }
        standIn.close();
    }

    private Optional<HttpResponse<String>> get(String path) {
        try {
            return Optional.of(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + standIn.agentStatusPort() + path)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString()));
        } catch (java.io.IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private int status(String path) {
        return get(path).map(HttpResponse::statusCode).orElse(-1);
    }

    @Test
    void readinessFollowsEnvoyAndTheMetricsMergeEnvoysOwn() throws Exception {
        ServedIdentity identity = new TestIdentities().issue("bar", "httpbin");
        TestIdentities.writeFiles(identity, standIn.certsDir());
        standIn.faults("never_live=true");
        Path configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv());
        log = standIn.dir().resolve("agent.log");
        agent = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", AgentProcess.jar().toString(),
                "run", "--config-dir", configDir.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();

        Await.until("the status port answers", WAIT, () -> status("/healthz/ready") == 503, this::logText);
        // The stand-in reads its faults at start and serves its admin API after: once it answers, it is held.
        Await.until("the stand-in answers, held not LIVE", WAIT,
                () -> standIn.admin("/ready").equals(Optional.of("503 INITIALIZING\n")), this::logText);
        assertThat(standIn.alivePids()).hasSize(1);
        HttpResponse<String> notReady = get("/healthz/ready").orElseThrow();
        assertThat(notReady.statusCode()).isEqualTo(503);
        JsonNode body = JSON.readTree(notReady.body());
        assertThat(body.path("ready").asBoolean(true)).isFalse();
        assertThat(body.path("not_ready")).extracting(c -> c.path("component").asText()).contains("envoy");
        assertThat(status("/healthz/live")).isEqualTo(200);

        // The next stand-in goes LIVE: kill this one, and the agent's restart brings it up.
        standIn.faults("never_live=false");
        List<Long> pids = standIn.alivePids();
        new ProcessBuilder("kill", "-9", Long.toString(pids.get(0))).inheritIO().start().waitFor();
        Await.until("ready once the restarted Envoy is LIVE", WAIT, () -> status("/healthz/ready") == 200,
                this::logText);

        JsonNode debug = JSON.readTree(get("/debug/status").orElseThrow().body());
        JsonNode envoy = null;
        for (JsonNode c : debug.path("components")) {
            if (c.path("name").asText().equals("envoy")) {
                envoy = c;
            }
        }
        assertThat(envoy).isNotNull();
        assertThat(envoy.path("facts").path("state").asText()).isEqualTo("LIVE");
        // At least the one this test caused (the live timeout may have restarted the stand-in held not LIVE too).
        assertThat(envoy.path("facts").path("restarts").asInt()).as(debug + "\n" + logText()).isPositive();
        assertThat(envoy.path("facts").path("pid").asLong()).isEqualTo(standIn.alivePids().get(0));

        HttpResponse<String> metrics = get("/stats/prometheus").orElseThrow();
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("content-type")).contains("text/plain; version=0.0.4; charset=utf-8");
        String text = metrics.body();
        assertThat(text).contains("# TYPE istio_vm_agent_ready gauge\n").contains("\nistio_vm_agent_ready 1.0\n")
                .containsPattern("\nistio_vm_agent_envoy_crashes_total [1-9]")
                .containsPattern("\nistio_vm_agent_envoy_restarts_total [1-9]")
                .contains("istio_vm_agent_certificate_expiry_timestamp_seconds ")
                .contains("# TYPE envoy_server_live gauge\nenvoy_server_live 1\n");
        assertThat(text.indexOf("envoy_server_live")).isGreaterThan(text.lastIndexOf("istio_vm_agent_"));
        // Kept beside the build's other outputs (the stand-in's directory goes with the fixture) for a look by hand.
        Files.writeString(Path.of("target", "status-endpoint-metrics.prom"), text);
    }

    private String logText() {
        try {
            return Files.readString(log);
        } catch (java.io.IOException e) {
            return "(no agent log: " + e + ")";
        }
    }
}
