package io.istiovm.agent.status;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.istiovm.agent.lifecycle.IdleEventLoops;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Liveness;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.metrics.AgentMetrics;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's status port on 127.0.0.1 (VM_AGENT_STATUS_PORT, Istio's agent port 15020): readiness for Envoy's
 * 15021 listener and the mesh's WorkloadGroup probes, liveness, Prometheus metrics merged with Envoy's, and the
 * agent's state as JSON. Read-only: no endpoint changes anything (pilot-agent's {@code /quitquitquit} and
 * {@code /drain} are deliberately absent: every local user can reach this port).
 *
 * <p>Follows pilot-agent's status server (istio/istio {@code pilot/cmd/pilot-agent/status/server.go}, master at
 * 0098d99f, Istio 1.28 line): {@code /healthz/ready} answers 200 or 503 (pilot-agent sends no body; this agent adds
 * JSON saying what is not ready), {@code /stats/prometheus} and {@code /metrics} write the agent's metrics first and
 * Envoy's after them, a plain concatenation in text format 0.0.4; Envoy not answering costs only its part (counted
 * in {@code istio_vm_agent_envoy_scrape_failures_total}), never the agent's. Unlike pilot-agent, Envoy's families
 * whose names collide with the agent's prefix are dropped, so that no family appears twice.
 *
 * <p>One event-loop thread ({@code status}) answers every request; the Envoy scrape, which blocks for up to the
 * admin timeout, runs on one thread of its own ({@code status-scrape}, at most {@link #SCRAPE_QUEUE} waiting), so
 * that a hung Envoy never delays a readiness probe.
 */
public final class StatusServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StatusServer.class);
    /** Request line and headers; nothing this server answers needs more. */
    static final int MAX_REQUEST_HEAD = 8 * 1024;
    /** GET and HEAD carry no body; a request with a larger one is refused (413). */
    static final int MAX_REQUEST_BODY = 1024;
    /** A client that sends nothing for this long is disconnected (a slow-loris local user). */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(10);
    /**
     * Without per-component bounds (tests, and any caller without the loops' deadlines): a component loop that has
     * not checked in (every 5 s when idle) for this long is not live.
     */
    static final Duration LIVENESS_STALE = Duration.ofSeconds(60);
    static final int SCRAPE_QUEUE = 4;
    static final String TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8";
    private static final String JSON_TYPE = "application/json";

    private final AgentState state;
    private final AgentMetrics metrics;
    private final EnvoyStats envoy;
    /** Each component's staleness bound: the same as the watchdog's, so /healthz/live and systemd agree. */
    private final Function<String, Duration> staleAfter;
    private final EventLoopGroup loop;
    private final ThreadPoolExecutor scrapes;
    private final Channel channel;

    private StatusServer(AgentState state, EnvoyStats envoy, Function<String, Duration> staleAfter,
                         InetSocketAddress bind) throws IOException {
        this.state = Objects.requireNonNull(state, "state");
        this.staleAfter = Objects.requireNonNull(staleAfter, "staleAfter");
        this.metrics = state.metrics();
        this.envoy = Objects.requireNonNull(envoy, "envoy");
        this.loop = IdleEventLoops.sleepWhenIdle(new MultiThreadIoEventLoopGroup(1,
                new DefaultThreadFactory("status", true), NioIoHandler.newFactory()));
        this.scrapes = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(SCRAPE_QUEUE),
                new DefaultThreadFactory("status-scrape", true));
        try {
            this.channel = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                    .childOption(ChannelOption.AUTO_READ, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new ReadTimeoutHandler(READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS),
                                    new HttpServerCodec(4096, MAX_REQUEST_HEAD, 8192),
                                    new HttpObjectAggregator(MAX_REQUEST_BODY), new Handler());
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            close();
            throw new IOException("cannot listen on " + bind.getAddress().getHostAddress() + ":" + bind.getPort()
                    + " (VM_AGENT_STATUS_PORT): " + e.getMessage(), e);
        }
    }

    /**
     * Listens on {@code address}:{@code port}, which must be a loopback address: every local user may read this
     * port, nobody else may reach it. Port 0 picks a free port (tests).
     */
    public static StatusServer start(AgentState state, EnvoyStats envoy, InetAddress address, int port)
            throws IOException {
        return start(state, envoy, name -> LIVENESS_STALE, address, port);
    }

    /**
     * As {@link #start(AgentState, EnvoyStats, InetAddress, int)}, with {@code staleAfter} giving each component's
     * liveness bound (the watchdog's: {@link Liveness}).
     */
    public static StatusServer start(AgentState state, EnvoyStats envoy, Function<String, Duration> staleAfter,
                                     InetAddress address, int port) throws IOException {
        if (!address.isLoopbackAddress()) {
            throw new IllegalArgumentException("the status server listens on loopback only, not " + address);
        }
        StatusServer server = new StatusServer(state, envoy, staleAfter, new InetSocketAddress(address, port));
        LOG.info("status server on {} (/healthz/ready, /healthz/live, /stats/prometheus, /debug/status)",
                server.address());
        return server;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close().syncUninterruptibly();
        }
        scrapes.shutdownNow();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** An answer: status, content type and body. */
    record Answer(HttpResponseStatus status, String contentType, byte[] body) {
        static Answer json(HttpResponseStatus status, JsonNode node) {
            try {
                return new Answer(status, JSON_TYPE, StatusJson.JSON.writerWithDefaultPrettyPrinter()
                        .writeValueAsBytes(node));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }

        static Answer text(HttpResponseStatus status, String text) {
            return new Answer(status, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The answer to GET {@code path} that needs no Envoy; empty for the metrics paths. */
    Optional<Answer> answer(String path) {
        AgentState.Snapshot snapshot = state.snapshot();
        return switch (path) {
            case "/healthz/ready" -> Optional.of(Answer.json(snapshot.ready() ? HttpResponseStatus.OK
                    : HttpResponseStatus.SERVICE_UNAVAILABLE, StatusJson.readiness(snapshot)));
            case "/healthz/live" -> Optional.of(live(snapshot, staleAfter));
            case "/debug/status" -> Optional.of(Answer.json(HttpResponseStatus.OK, StatusJson.debugStatus(snapshot)));
            case "/stats/prometheus", "/metrics" -> Optional.empty();
            default -> Optional.of(Answer.text(HttpResponseStatus.NOT_FOUND, "not found: " + path + "\n"));
        };
    }

    /** Alive unless the agent has stopped or a component loop stopped checking in within its bound (hung). */
    static Answer live(AgentState.Snapshot snapshot, Function<String, Duration> staleAfter) {
        ObjectNode root = StatusJson.JSON.createObjectNode();
        ArrayNode stale = StatusJson.JSON.createArrayNode();
        for (ComponentState c : Liveness.stalled(snapshot, snapshot.at(), staleAfter)) {
            stale.addObject().put("component", c.name()).put("last_progress", c.lastProgress().get().toString());
        }
        boolean live = snapshot.stage() != AgentState.Stage.STOPPED && stale.isEmpty();
        root.put("live", live);
        if (!stale.isEmpty()) {
            root.set("stalled", stale);
        }
        return Answer.json(live ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, root);
    }

    /** The agent's metrics (counted, and derived from the state), then Envoy's, as pilot-agent merges them. */
    Answer metrics() {
        // Envoy first, so that a failed fetch is counted in this very scrape.
        Optional<String> envoyText = envoy.prometheus();
        if (envoyText.isEmpty()) {
            metrics.envoyScrapeFailed();
        }
        List<MetricSnapshot> all = new ArrayList<>();
        metrics.scrape().forEach(all::add);
        all.addAll(StateMetrics.of(state.snapshot()));
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
        try {
            PrometheusTextFormatWriter.create().write(out, new MetricSnapshots(all),
                    EscapingScheme.UNDERSCORE_ESCAPING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        envoyText.ifPresent(text -> out.writeBytes(EnvoyText.withoutFamilies(text, AgentMetrics.PREFIX)
                .getBytes(StandardCharsets.UTF_8)));
        return new Answer(HttpResponseStatus.OK, TEXT_0_0_4, out.toByteArray());
    }

    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            boolean head = request.method().equals(HttpMethod.HEAD);
            if (!request.decoderResult().isSuccess()) {
                send(ctx, Answer.text(HttpResponseStatus.BAD_REQUEST, "bad request\n"), false);
                return;
            }
            if (!head && !request.method().equals(HttpMethod.GET)) {
                FullHttpResponse refused = response(Answer.text(HttpResponseStatus.METHOD_NOT_ALLOWED,
                        "only GET and HEAD\n"), false);
                refused.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
                ctx.writeAndFlush(refused).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            String path = new QueryStringDecoder(request.uri()).path();
            Optional<Answer> answer;
            try {
                answer = answer(path);
            } catch (RuntimeException e) {
                LOG.warn("status server: {} failed: {}", path, e.toString());
                send(ctx, Answer.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error\n"), head);
                return;
            }
            if (answer.isPresent()) {
                send(ctx, answer.get(), head);
                return;
            }
            try {
                scrapes.execute(() -> {
                    Answer merged;
                    try {
                        merged = metrics();
                    } catch (RuntimeException e) {
                        LOG.warn("status server: metrics failed: {}", e.toString());
                        merged = Answer.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error\n");
                    }
                    send(ctx, merged, head);
                });
            } catch (RejectedExecutionException e) {
                send(ctx, Answer.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "too many scrapes at once\n"), head);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // A client that went away or timed out: nothing to answer.
            ctx.close();
        }
    }

    private static FullHttpResponse response(Answer answer, boolean head) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, answer.status(),
                head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(answer.body()));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, answer.contentType());
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, answer.body().length);
        response.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        // One request per connection: probes and scrapes open one each, and nothing lingers.
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        return response;
    }

    private static void send(ChannelHandlerContext ctx, Answer answer, boolean head) {
        ctx.writeAndFlush(response(answer, head)).addListener(ChannelFutureListener.CLOSE);
    }
}
