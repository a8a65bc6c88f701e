package io.istiovm.agent.status;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.envoy.AdminAddress;
import io.istiovm.agent.metrics.AgentMetrics;
import io.istiovm.agent.testing.TestAgent;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code /stats/prometheus}: the agent's families with HELP and TYPE and units in their names, values derived from
 * the state and counted by the areas, and Envoy's own metrics (from a real HTTP server standing in for its admin
 * API, reached through EnvoyAdminClient as the running agent does) appended after them.
 */
class MetricsEndpointTest {
    private static final String P = AgentMetrics.PREFIX;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final TestAgent agent = new TestAgent("hosts", "identity", "envoy", "capture");
    private HttpServer admin;
    private volatile String envoyBody;
    private volatile int envoyStatus = 200;
    private StatusServer server;

    @BeforeEach
    void setUp() throws Exception {
        admin = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        admin.createContext("/", exchange -> {
            byte[] bytes = (exchange.getRequestURI().getPath().equals("/stats/prometheus") && envoyBody != null
                    ? envoyBody : "").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=UTF-8");
            exchange.sendResponseHeaders(envoyStatus, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        admin.start();
        server = StatusServer.start(agent.state, Assembly.envoyStats(AdminAddress.tcp(admin.getAddress().getPort()),
                Duration.ofSeconds(5)), InetAddress.getLoopbackAddress(), 0);
        agent.start();
    }

    @AfterEach
    void tearDown() {
        server.close();
        admin.stop(0);
    }

    static String envoySample() throws IOException {
        try (InputStream in = MetricsEndpointTest.class.getResourceAsStream("envoy-stats.prom")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private HttpResponse<String> scrape() throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort()
                + "/stats/prometheus")).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A running agent's state: identity with its certificate, Envoy LIVE at epoch 2, 19 rules, 2 hosts entries. */
    private void runningAgent() {
        Map<String, String> identity = new LinkedHashMap<>();
        identity.put("spiffe_id", "spiffe://cluster.local/ns/vm/sa/default");
        identity.put("not_before", "2026-12-02T04:00:00Z");
        identity.put("not_after", "2026-12-03T04:00:00Z");
        identity.put("next_rotation", "2026-12-02T16:00:00Z");
        agent.reporter("identity").facts(identity);
        agent.reporter("identity").ready("valid");
        agent.reporter("envoy").facts(Map.of("epoch", "2", "state", "LIVE"));
        agent.reporter("envoy").ready("epoch 2 LIVE");
        agent.reporter("capture").facts(Map.of("rules", "19"));
        agent.reporter("hosts").facts(Map.of("entries", "2"));
        agent.reporter("hosts").ready("block");
        agent.metrics.rotated();
        agent.metrics.rotationFailed(AgentMetrics.RotationFailure.CA);
        agent.metrics.caRequest(Protocol.CREATE_CERTIFICATE, AgentMetrics.CaOutcome.OK, Duration.ofMillis(40));
        agent.metrics.rulesVerified();
        agent.metrics.rulesRepaired();
        agent.metrics.hostsUpdated();
        agent.metrics.envoyCrashed();
        agent.metrics.envoyRestarted();
        agent.metrics.envoyHotRestarted();
    }

    enum Protocol { CREATE_CERTIFICATE }

    /** Family name -> TYPE, from the exposition's TYPE lines; each HELP and TYPE at most once (else a test fails). */
    static Map<String, String> types(String exposition) {
        Map<String, String> types = new LinkedHashMap<>();
        List<String> helps = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^# (HELP|TYPE) (\\S+) ?(.*)$").matcher(exposition);
        while (m.find()) {
            if (m.group(1).equals("TYPE")) {
                assertThat(types.put(m.group(2), m.group(3))).as("second TYPE of " + m.group(2)).isNull();
            } else {
                assertThat(helps).as("second HELP of " + m.group(2)).doesNotContain(m.group(2));
                assertThat(m.group(3)).as("HELP of " + m.group(2)).isNotBlank();
                helps.add(m.group(2));
            }
        }
        types.keySet().stream().filter(name -> name.startsWith(P))
                .forEach(name -> assertThat(helps).as("HELP of " + name).contains(name));
        return types;
    }

    static double value(String exposition, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(exposition);
        assertThat(m.find()).as(series + " in\n" + exposition).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void theAgentsFamiliesHaveTheirTypesAndValuesAndEnvoysFollow() throws Exception {
        runningAgent();
        envoyBody = envoySample();
        HttpResponse<String> answer = scrape();
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("content-type")).contains("text/plain; version=0.0.4; charset=utf-8");
        String text = answer.body();
        Map<String, String> types = types(text);
        assertThat(types).containsEntry(P + "certificate_rotations_total", "counter")
                .containsEntry(P + "certificate_rotation_failures_total", "counter")
                .containsEntry(P + "ca_request_duration_seconds", "histogram")
                .containsEntry(P + "capture_rule_verifications_total", "counter")
                .containsEntry(P + "capture_rule_repairs_total", "counter")
                .containsEntry(P + "hosts_updates_total", "counter")
                .containsEntry(P + "envoy_restarts_total", "counter")
                .containsEntry(P + "envoy_hot_restarts_total", "counter")
                .containsEntry(P + "envoy_crashes_total", "counter")
                .containsEntry(P + "reloads_total", "counter")
                .containsEntry(P + "envoy_scrape_failures_total", "counter")
                .containsEntry(P + "build_info", "gauge")
                .containsEntry(P + "ready", "gauge")
                .containsEntry(P + "component_ready", "gauge")
                .containsEntry(P + "certificate_expiry_timestamp_seconds", "gauge")
                .containsEntry(P + "certificate_not_before_timestamp_seconds", "gauge")
                .containsEntry(P + "certificate_next_rotation_timestamp_seconds", "gauge")
                .containsEntry(P + "envoy_epoch", "gauge")
                .containsEntry(P + "capture_rules", "gauge")
                .containsEntry(P + "hosts_entries", "gauge")
                // Envoy's, as Envoy wrote them.
                .containsEntry("envoy_cluster_upstream_cx_total", "counter")
                .containsEntry("istio_requests_total", "counter");
        assertThat(value(text, P + "certificate_expiry_timestamp_seconds"))
                .isEqualTo(java.time.Instant.parse("2026-12-03T04:00:00Z").getEpochSecond());
        assertThat(value(text, P + "envoy_epoch")).isEqualTo(2);
        assertThat(value(text, P + "capture_rules")).isEqualTo(19);
        assertThat(value(text, P + "component_ready{component=\"identity\"}")).isEqualTo(1);
        // Capture is still starting (waiting for Envoy): not ready, and so not the agent.
        assertThat(value(text, P + "component_ready{component=\"capture\"}")).isZero();
        assertThat(value(text, P + "ready")).isZero();
        assertThat(value(text, P + "certificate_rotation_failures_total{reason=\"ca\"}")).isEqualTo(1);
        assertThat(value(text, P + "certificate_rotation_failures_total{reason=\"io\"}")).isZero();
        assertThat(value(text, P + "ca_request_duration_seconds_count{outcome=\"ok\",protocol=\"create_certificate\"}"))
                .isEqualTo(1);
        assertThat(value(text, P + "build_info{version=\"1.2.3-test\"}")).isEqualTo(1);
        assertThat(value(text, P + "envoy_scrape_failures_total")).isZero();
        // The agent's part first, Envoy's after it, whole.
        assertThat(text.indexOf("envoy_cluster_assignment_stale")).isGreaterThan(text.lastIndexOf(P));
        assertThat(text).endsWith(envoySample());
    }

    @Test
    void envoyDownCostsOnlyEnvoysPartAndIsCounted() throws Exception {
        envoyStatus = 503;
        HttpResponse<String> first = scrape();
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(value(first.body(), P + "envoy_scrape_failures_total")).isEqualTo(1);
        assertThat(first.body()).doesNotContain("envoy_cluster");
        admin.stop(0);
        assertThat(value(scrape().body(), P + "envoy_scrape_failures_total")).isEqualTo(2);
    }

    @Test
    void envoysFamiliesNamedLikeTheAgentsAreDropped() throws Exception {
        envoyBody = "# TYPE " + P + "ready gauge\n" + P + "ready{} 1\n# TYPE envoy_server_live gauge\n"
                + "envoy_server_live{} 1";
        String text = scrape().body();
        types(text);
        assertThat(text).endsWith("# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n");
        assertThat(value(text, P + "ready")).isZero();
    }

    @Test
    void promtoolAcceptsTheAgentsPartAsItIsAndParsesTheMergedWhole() throws Exception {
        runningAgent();
        agent.refuseReload("bad");
        envoyStatus = 503;
        Promtool agentOnly = Promtool.check(scrape().body());
        assertThat(agentOnly.output()).as("promtool on the agent's metrics").isEmpty();
        assertThat(agentOnly.exit()).isZero();

        envoyStatus = 200;
        envoyBody = envoySample();
        Promtool merged = Promtool.check(scrape().body());
        // promtool 2.42 lints Envoy's families (Envoy writes no HELP, and names some counters without _total); every
        // problem it reports must be about one of Envoy's families, and none may be a parse error (exit 1).
        assertThat(merged.exit()).as(merged.output()).isEqualTo(3);
        assertThat(merged.output().lines()).isNotEmpty().allSatisfy(line -> assertThat(line)
                .matches("(envoy_|istio_request)\\S* .*").doesNotStartWith(P));
    }

    record Promtool(int exit, String output) {
        static Promtool check(String exposition) throws Exception {
            Process process = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
            try (OutputStream in = process.getOutputStream()) {
                in.write(exposition.getBytes(StandardCharsets.UTF_8));
            }
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
            return new Promtool(process.exitValue(), output);
        }
    }
}
