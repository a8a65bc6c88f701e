package io.istiovm.agent.envoy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Envoy's admin API on 127.0.0.1, the calls the supervisor makes. Failures are answers, not exceptions. */
public final class EnvoyAdminClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern CONNECTIONS = Pattern.compile("(?m)^envoy_server_total_connections\\S*\\s+(\\d+)");

    private static final int POST_ATTEMPTS = 3;

    private final HttpClient http;
    private final URI base;
    private final Duration timeout;

    public EnvoyAdminClient(int port, Duration timeout) {
        this.base = URI.create("http://127.0.0.1:" + port);
        this.timeout = timeout;
        // Every request is synchronous and answered from loopback: the client's dependent tasks run on its selector
        // thread instead of a pool of its own.
        this.http = HttpClient.newBuilder().connectTimeout(timeout).version(HttpClient.Version.HTTP_1_1)
                .executor(Runnable::run).build();
    }

    /** True when {@code /ready} answers 200 LIVE. */
    public boolean live() {
        return get("/ready").filter(r -> r.statusCode() == 200 && r.body().strip().equals("LIVE")).isPresent();
    }

    /** {@code /server_info}'s state and restart epoch, if Envoy answers. */
    public Optional<ServerInfo> serverInfo() {
        return get("/server_info").filter(r -> r.statusCode() == 200).flatMap(r -> {
            try {
                var node = JSON.readTree(r.body());
                return Optional.of(new ServerInfo(node.path("state").asText(),
                        node.path("command_line_options").path("restart_epoch").asInt(-1)));
            } catch (IOException e) {
                return Optional.empty();
            }
        });
    }

    /** Open downstream connections from {@code /stats/prometheus}, if Envoy answers. */
    public OptionalLong totalConnections() {
        Optional<HttpResponse<String>> response = get("/stats/prometheus").filter(r -> r.statusCode() == 200);
        if (response.isEmpty()) {
            return OptionalLong.empty();
        }
        Matcher m = CONNECTIONS.matcher(response.get().body());
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /**
     * POSTs {@code pathAndQuery}; true on 200. The admin POSTs the agent sends ({@code /healthcheck/fail},
     * {@code /drain_listeners}, {@code /quitquitquit}) are idempotent, and the HTTP client does not resend a POST
     * that failed on a pooled connection the server had just closed, so a failed attempt is sent again here:
     * a lost drain request would turn a graceful stop into an abrupt one.
     */
    public boolean post(String pathAndQuery) {
        HttpRequest request = HttpRequest.newBuilder(base.resolve(pathAndQuery)).timeout(timeout)
                .POST(HttpRequest.BodyPublishers.noBody()).build();
        for (int attempt = 0; attempt < POST_ATTEMPTS; attempt++) {
            Optional<HttpResponse<String>> response = send(request);
            if (response.isPresent()) {
                return response.get().statusCode() == 200;
            }
        }
        return false;
    }

    /** True when anything accepts connections on the admin port. */
    public boolean answering() {
        return get("/server_info").isPresent();
    }

    private Optional<HttpResponse<String>> get(String path) {
        return send(HttpRequest.newBuilder(base.resolve(path)).timeout(timeout).GET().build());
    }

    private Optional<HttpResponse<String>> send(HttpRequest request) {
        try {
            return Optional.of(http.send(request, HttpResponse.BodyHandlers.ofString()));
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** What {@code /server_info} says. */
    public record ServerInfo(String state, int epoch) {
    }
}
