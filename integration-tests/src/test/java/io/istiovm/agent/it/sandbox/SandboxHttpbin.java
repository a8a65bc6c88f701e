package io.istiovm.agent.it.sandbox;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The sandbox's httpbin (8000), behind the gateway: every request is answered with a JSON body in the manner of
 * httpbin's {@code /anything}: the method, the path, the request's headers, and two fields read from them:
 * {@code peer}, the client identity the gateway verified (the {@code URI} of the last element of
 * {@code x-forwarded-client-cert}), and {@code original_destination}, where the client's sidecar found the
 * connection going ({@code x-envoy-original-dst-host}); each is {@code null} when its header is absent. One
 * request a connection ({@code Connection: close}): the proxies in front add their headers to a connection's first
 * message only. No {@code server} header of its own, so the one the answer carries is the sidecar's.
 */
public final class SandboxHttpbin implements AutoCloseable {
    private final HttpServer server;

    public SandboxHttpbin(InetSocketAddress address) throws IOException {
        server = HttpServer.create(address, 16);
        server.createContext("/", this::answer);
        server.start();
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    private void answer(HttpExchange exchange) throws IOException {
        try (exchange) {
            exchange.getRequestBody().readNBytes(64 * 1024);
            Map<String, String> headers = new TreeMap<>();
            exchange.getRequestHeaders().forEach((name, values) ->
                    headers.put(name.toLowerCase(java.util.Locale.ROOT), String.join(",", values)));
            StringBuilder json = new StringBuilder("{\n  \"method\": ").append(quote(exchange.getRequestMethod()))
                    .append(",\n  \"path\": ").append(quote(exchange.getRequestURI().toString()))
                    .append(",\n  \"peer\": ").append(peer(headers.get("x-forwarded-client-cert"))
                            .map(SandboxHttpbin::quote).orElse("null"))
                    .append(",\n  \"original_destination\": ").append(Optional.ofNullable(
                            headers.get("x-envoy-original-dst-host")).map(SandboxHttpbin::quote).orElse("null"))
                    .append(",\n  \"headers\": {");
            String separator = "\n";
            for (Map.Entry<String, String> header : headers.entrySet()) {
                json.append(separator).append("    ").append(quote(header.getKey())).append(": ")
                        .append(quote(header.getValue()));
                separator = ",\n";
            }
            json.append("\n  }\n}\n");
            byte[] body = json.toString().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.getResponseHeaders().set("Connection", "close");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /** The {@code URI} of the last (nearest) element of an XFCC header: Envoy appends each hop with a comma. */
    static Optional<String> peer(String xfcc) {
        if (xfcc == null || xfcc.isBlank()) {
            return Optional.empty();
        }
        // Elements are separated by commas outside quotes (a quoted Subject may hold commas), pairs by ';'.
        int start = 0;
        boolean quoted = false;
        for (int i = 0; i < xfcc.length(); i++) {
            char c = xfcc.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                start = i + 1;
            }
        }
        for (String pair : xfcc.substring(start).split(";")) {
            if (pair.startsWith("URI=")) {
                return Optional.of(pair.substring(4));
            }
        }
        return Optional.empty();
    }

    static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
