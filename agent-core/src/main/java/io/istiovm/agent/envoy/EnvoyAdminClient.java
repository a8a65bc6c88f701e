package io.istiovm.agent.envoy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Envoy's admin API, on its unix socket or on 127.0.0.1: the calls the supervisor makes, and any GET an operator
 * asks for ({@code envoy admin PATH}). Failures are answers, not exceptions.
 *
 * <p>HTTP/1.1 by hand, one request per connection ({@code Connection: close}), because the JDK's HTTP client
 * speaks only TCP. Envoy's admin listener refuses HTTP/1.0 (no {@code accept_http_10}) and streams large answers
 * chunked, so both a {@code Content-Length} body and a chunked one are read. Every answer is limited to
 * {@link #MAX_RESPONSE} bytes and every call to the timeout, so a stuck or hostile peer costs one timeout.
 */
public final class EnvoyAdminClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern CONNECTIONS = Pattern.compile("(?m)^envoy_server_total_connections\\S*\\s+(\\d+)");
    /** Envoy's full {@code /stats/prometheus} is a few MB on a busy proxy; nothing the agent reads is larger. */
    static final int MAX_RESPONSE = 16 * 1024 * 1024;

    private static final int POST_ATTEMPTS = 3;

    private final AdminAddress address;
    private final Duration timeout;

    public EnvoyAdminClient(AdminAddress address, Duration timeout) {
        this.address = address;
        this.timeout = timeout;
    }

    /** An admin answer: status and body (text). */
    public record Response(int status, String body) {
    }

    /** {@code /server_info}'s state and restart epoch, if Envoy answers. */
    public Optional<ServerInfo> serverInfo() {
        return get("/server_info").filter(r -> r.status() == 200).flatMap(r -> {
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
        Optional<Response> response = get("/stats/prometheus").filter(r -> r.status() == 200);
        if (response.isEmpty()) {
            return OptionalLong.empty();
        }
        Matcher m = CONNECTIONS.matcher(response.get().body());
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /**
     * POSTs {@code pathAndQuery}; true on 200. The admin POSTs the agent sends ({@code /healthcheck/fail},
     * {@code /drain_listeners}, {@code /quitquitquit}) are idempotent, so a request that got no answer at all is
     * sent again: a lost drain request would turn a graceful stop into an abrupt one.
     */
    public boolean post(String pathAndQuery) {
        for (int attempt = 0; attempt < POST_ATTEMPTS; attempt++) {
            Optional<Response> response = exchange("POST", pathAndQuery);
            if (response.isPresent()) {
                return response.get().status() == 200;
            }
        }
        return false;
    }

    /** POSTs {@code pathAndQuery} once; the answer, or empty when nothing answered. */
    public Optional<Response> postForAnswer(String pathAndQuery) {
        return exchange("POST", pathAndQuery);
    }

    /** GETs {@code pathAndQuery}; empty when nothing answered (refused, timed out, not HTTP). */
    public Optional<Response> get(String pathAndQuery) {
        return exchange("GET", pathAndQuery);
    }

    private Optional<Response> exchange(String method, String pathAndQuery) {
        if (!pathAndQuery.startsWith("/") || pathAndQuery.chars().anyMatch(c -> c <= ' ' || c >= 0x7f)) {
            throw new IllegalArgumentException("not an admin path: " + pathAndQuery);
        }
        byte[] request = (method + " " + pathAndQuery + " HTTP/1.1\r\nHost: envoy-admin\r\nConnection: close\r\n"
                + (method.equals("POST") ? "Content-Length: 0\r\n" : "") + "\r\n").getBytes(StandardCharsets.US_ASCII);
        long deadline = System.nanoTime() + timeout.toNanos();
        try (SocketChannel channel = open(); Selector selector = Selector.open()) {
            channel.configureBlocking(false);
            if (!channel.connect(address.connectable())) {
                await(channel, selector, SelectionKey.OP_CONNECT, deadline);
                channel.finishConnect();
            }
            ByteBuffer out = ByteBuffer.wrap(request);
            while (out.hasRemaining()) {
                if (channel.write(out) == 0) {
                    await(channel, selector, SelectionKey.OP_WRITE, deadline);
                }
            }
            ByteArrayOutputStream in = new ByteArrayOutputStream();
            ByteBuffer buffer = ByteBuffer.allocate(16384);
            while (true) {
                int n = channel.read(buffer);
                if (n < 0) {
                    break;
                }
                if (n == 0) {
                    await(channel, selector, SelectionKey.OP_READ, deadline);
                    continue;
                }
                if (in.size() + n > MAX_RESPONSE) {
                    return Optional.empty();
                }
                in.write(buffer.array(), 0, n);
                buffer.clear();
            }
            return parse(in.toByteArray());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private SocketChannel open() throws IOException {
        return SocketChannel.open(address.connectable() instanceof UnixDomainSocketAddress ? StandardProtocolFamily.UNIX
                : StandardProtocolFamily.INET);
    }

    private static void await(SocketChannel channel, Selector selector, int op, long deadline) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new IOException("admin API timed out");
        }
        SelectionKey key = channel.register(selector, op);
        int ready = selector.select(Math.max(1, left / 1_000_000));
        key.cancel();
        selector.selectNow();
        if (ready == 0) {
            throw new IOException("admin API timed out");
        }
    }

    /** Status line, headers, body (by Content-Length, chunked, or to the end). */
    static Optional<Response> parse(byte[] raw) {
        String text = new String(raw, StandardCharsets.ISO_8859_1);
        int headersEnd = text.indexOf("\r\n\r\n");
        if (headersEnd < 0 || !text.startsWith("HTTP/1.")) {
            return Optional.empty();
        }
        String[] lines = text.substring(0, headersEnd).split("\r\n");
        String[] statusLine = lines[0].split(" ", 3);
        if (statusLine.length < 2) {
            return Optional.empty();
        }
        int status;
        try {
            status = Integer.parseInt(statusLine[1]);
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        boolean chunked = false;
        long length = -1;
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon < 0) {
                continue;
            }
            String name = lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = lines[i].substring(colon + 1).trim();
            if (name.equals("transfer-encoding") && value.toLowerCase(Locale.ROOT).contains("chunked")) {
                chunked = true;
            } else if (name.equals("content-length")) {
                length = Long.parseLong(value);
            }
        }
        int start = headersEnd + 4;
        byte[] body;
        if (chunked) {
            ByteArrayOutputStream decoded = new ByteArrayOutputStream();
            int at = start;
            while (true) {
                int lineEnd = text.indexOf("\r\n", at);
                if (lineEnd < 0) {
                    return Optional.empty();
                }
                String size = text.substring(at, lineEnd);
                int semicolon = size.indexOf(';');
                int n = Integer.parseInt((semicolon < 0 ? size : size.substring(0, semicolon)).trim(), 16);
                if (n == 0) {
                    break;
                }
                if (lineEnd + 2 + n > raw.length) {
                    return Optional.empty();
                }
                decoded.write(raw, lineEnd + 2, n);
                at = lineEnd + 2 + n + 2;
            }
            body = decoded.toByteArray();
        } else {
            int end = length < 0 ? raw.length : (int) Math.min(raw.length, start + length);
            body = java.util.Arrays.copyOfRange(raw, start, end);
        }
        return Optional.of(new Response(status, new String(body, StandardCharsets.UTF_8)));
    }

    /** What {@code /server_info} says. */
    public record ServerInfo(String state, int epoch) {
    }
}
