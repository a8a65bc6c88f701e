package io.istiovm.agent.status;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.testing.TestAgent;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class StatusServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final TestAgent agent = new TestAgent("hosts", "identity", "envoy");
    private StatusServer server;

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
    }

    private StatusServer serve() throws IOException {
        server = StatusServer.start(agent.state, EnvoyStats.NONE, InetAddress.getLoopbackAddress(), 0);
        return server;
    }

    private HttpResponse<String> get(String path) throws Exception {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    @Test
    void readyIs503WithWhatIsNotReadyWhileStartingAnd200OnceEveryComponentServes() throws Exception {
        serve();
        // Before the components even started: the agent is preparing.
        HttpResponse<String> preparing = get("/healthz/ready");
        assertThat(preparing.statusCode()).isEqualTo(503);
        assertThat(JSON.readTree(preparing.body()).path("stage").asText()).isEqualTo("preparing");

        agent.start();
        agent.reporter("hosts").ready("block of 2 line(s)");
        agent.reporter("identity").starting("enrolling with the token in /etc/istio/token");
        agent.reporter("envoy").degraded("hot restart: epoch 1 starting, epoch 0 still serving");
        HttpResponse<String> starting = get("/healthz/ready");
        assertThat(starting.statusCode()).isEqualTo(503);
        assertThat(starting.headers().firstValue("content-type")).contains("application/json");
        JsonNode body = JSON.readTree(starting.body());
        assertThat(body.path("ready").asBoolean(true)).isFalse();
        // DEGRADED serves; only the identity is listed.
        assertThat(body.path("not_ready")).hasSize(1);
        assertThat(body.path("not_ready").get(0).path("component").asText()).isEqualTo("identity");
        assertThat(body.path("not_ready").get(0).path("phase").asText()).isEqualTo("starting");
        assertThat(body.path("not_ready").get(0).path("reason").asText())
                .isEqualTo("enrolling with the token in /etc/istio/token");

        agent.reporter("identity").ready("valid");
        HttpResponse<String> ready = get("/healthz/ready");
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(ready.body())).isEqualTo(JSON.readTree("{\"ready\":true}"));
    }

    @Test
    void liveUntilAComponentLoopStopsCheckingIn() throws Exception {
        serve();
        agent.start();
        agent.reporter("identity").progress();
        assertThat(get("/healthz/live").statusCode()).isEqualTo(200);
        agent.clock.advance(StatusServer.LIVENESS_STALE.plusSeconds(1));
        agent.reporter("hosts").progress();
        HttpResponse<String> hung = get("/healthz/live");
        assertThat(hung.statusCode()).isEqualTo(503);
        assertThat(JSON.readTree(hung.body()).path("stalled").get(0).path("component").asText())
                .isEqualTo("identity");
    }

    @Test
    void onlyGetAndHeadOnKnownPaths() throws Exception {
        serve();
        HttpResponse<String> unknown = get("/quitquitquit");
        assertThat(unknown.statusCode()).isEqualTo(404);
        HttpResponse<String> post = send(HttpRequest.newBuilder(uri("/healthz/ready"))
                .POST(HttpRequest.BodyPublishers.ofString("")));
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("allow")).contains("GET, HEAD");
        HttpResponse<String> head = send(HttpRequest.newBuilder(uri("/debug/status"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()));
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        assertThat(head.headers().firstValueAsLong("content-length").orElse(0)).isPositive();
        // The query string does not change the path.
        assertThat(get("/healthz/ready?x=1").statusCode()).isEqualTo(503);
    }

    @Test
    void anOversizedRequestIsRefusedAndTheServerGoesOn() throws Exception {
        serve();
        try (Socket socket = new Socket()) {
            socket.connect(server.address(), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /healthz/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(StatusServer.MAX_REQUEST_HEAD)
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String answer = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            assertThat(answer).startsWith("HTTP/1.1 400 ");
        }
        assertThat(get("/healthz/ready").statusCode()).isEqualTo(503);
    }

    @Test
    void refusesANonLoopbackAddress() {
        assertThatThrownBy(() -> StatusServer.start(agent.state, EnvoyStats.NONE,
                InetAddress.getByName("0.0.0.0"), 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void debugStatusShowsEveryComponentWithItsFactsAndTheLastReload() throws Exception {
        serve();
        agent.start();
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("spiffe_id", "spiffe://cluster.local/ns/vm/sa/default");
        facts.put("serial", "1f2e");
        facts.put("not_after", "2026-12-03T04:00:00Z");
        agent.reporter("identity").facts(facts);
        agent.reporter("identity").ready("valid");
        agent.reporter("identity").progress();
        agent.reporter("envoy").failed("Envoy exited with 1; restarting at 2026-12-02T10:00:05Z");
        JsonNode before = JSON.readTree(get("/debug/status").body());
        assertThat(before.path("last_reload").isNull()).isTrue();

        agent.clock.advance(Duration.ofSeconds(30));
        agent.refuseReload("cluster.env:3: ISTIO_SERVICE_CIDR: bad");
        JsonNode status = JSON.readTree(get("/debug/status").body());
        assertThat(status.path("stage").asText()).isEqualTo("running");
        assertThat(status.path("ready").asBoolean(true)).isFalse();
        assertThat(status.path("components")).extracting(c -> c.path("name").asText())
                .containsExactly("hosts", "identity", "envoy");
        JsonNode identity = status.path("components").get(1);
        assertThat(identity.path("phase").asText()).isEqualTo(Phase.READY.name().toLowerCase());
        assertThat(identity.path("since").asText()).isEqualTo("2026-12-02T10:00:00Z");
        assertThat(identity.path("last_progress").asText()).isEqualTo("2026-12-02T10:00:00Z");
        assertThat(identity.path("facts").fieldNames()).toIterable()
                .containsExactly("spiffe_id", "serial", "not_after");
        assertThat(status.path("components").get(0).path("last_progress").isNull()).isTrue();
        assertThat(status.path("last_reload").path("outcome").asText()).isEqualTo("refused");
        assertThat(io.istiovm.agent.testing.MetricValues.of(agent.metrics, "reloads_total{outcome=\"refused\"}"))
                .isEqualTo(1);
        assertThat(status.path("last_reload").path("at").asText()).isEqualTo("2026-12-02T10:00:30Z");
        assertThat(status.path("errors")).extracting(e -> e.path("component").asText())
                .containsExactly("envoy", "reload");
        assertThat(status.fieldNames()).toIterable().containsExactly("at", "stage", "ready", "summary",
                "components", "last_reload", "errors");
    }

    @Test
    void aHungEnvoyScrapeDoesNotDelayReadiness() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch scraping = new java.util.concurrent.CountDownLatch(1);
        server = StatusServer.start(agent.state, () -> {
            scraping.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return java.util.Optional.empty();
        }, InetAddress.getLoopbackAddress(), 0);
        java.util.concurrent.CompletableFuture<HttpResponse<String>> scrape = http.sendAsync(
                HttpRequest.newBuilder(uri("/stats/prometheus")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(scraping.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(get("/healthz/ready").statusCode()).isEqualTo(503);
        release.countDown();
        assertThat(scrape.get(10, java.util.concurrent.TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
}
