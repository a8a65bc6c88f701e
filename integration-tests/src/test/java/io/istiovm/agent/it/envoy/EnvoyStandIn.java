package io.istiovm.agent.it.envoy;

import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.istiovm.agent.testing.SdsTestClient;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;

/**
 * A stand-in for the {@code envoy} binary, for tests: Envoy itself cannot be installed from the registries the
 * build reaches. It honours the contracts the agent relies on, and nothing more:
 *
 * <ul>
 *   <li>{@code --version} and {@code --hot-restart-version} (alone) print and exit, as Envoy's do.</li>
 *   <li>Envoy's command line ({@code -c}, {@code --restart-epoch}, {@code --drain-time-s},
 *       {@code --parent-shutdown-time-s}, {@code --service-cluster}, {@code --service-node},
 *       {@code --local-address-ip-version}, {@code -l}, {@code --concurrency}, {@code --base-id},
 *       {@code --mode validate}, ...); an unknown flag is an error (exit 1), as in Envoy.</li>
 *   <li>The bootstrap is judged by {@link StandInBootstrapValidator} (Envoy's schema and validation rules from the
 *       API descriptors, independently of the agent's parser); invalid means exit 1.</li>
 *   <li>Admin on the bootstrap's admin address (TCP, or a {@code pipe}: the path unlinked, bound and chmod-ed to
 *       the Pipe's mode, as Envoy does): {@code /ready}, {@code /server_info} (state, epoch),
 *       {@code /quitquitquit}, {@code /healthcheck/fail}, {@code /drain_listeners}, {@code /stats/prometheus},
 *       {@code /certs} (serials of the secrets it holds). Mutating endpoints require POST.</li>
 *   <li>An SDS client to the {@code sds-grpc} socket for every SDS secret the bootstrap references, ACKing and
 *       NACKing per protocol; LIVE once every secret has arrived (as Envoy's init manager waits).</li>
 *   <li>Hot restart: epoch 0 creates {@code envoy_shared_memory_<10 * base-id>} in the shared-memory directory and
 *       refuses to start if it exists (a crashed Envoy's leftover, the Istio crash loop); epoch N connects to
 *       epoch N-1's domain socket there, which releases its ports and exits after
 *       {@code --parent-shutdown-time-s}. A missing parent is an error; so is a parent of another hot-restart
 *       version, which then keeps its ports and serves on.</li>
 *   <li>Capture listeners (outbound, inbound) that look up each connection's original destination (SO_ORIGINAL_DST,
 *       or its local address when it was not redirected) in the routes of {@code ENVOY_STANDIN_ROUTES}
 *       ({@link StandInRoutes}, standing in for istiod's xDS): an outbound route forwards over mTLS with the SDS
 *       identity and Istio's SNI, an inbound route delivers to the application on 127.0.0.1; without a route the
 *       listener writes {@code ORIGINAL_DST <addr> EPOCH <n>} on accept and then echoes
 *       ({@link CaptureListener}).</li>
 * </ul>
 *
 * <p>Test control through the environment: {@code ENVOY_STANDIN_RECORD} (file that gets one line per admin call
 * and signal), {@code ENVOY_STANDIN_FAULTS} (properties read at start: {@code crash_after_ms} (then dies by SIGABRT),
 * {@code never_live}, {@code live_when_exists} (a path: LIVE only once that file exists), {@code nack_all}, {@code crash_at_start}, {@code ignore_sigterm}, {@code ignore_parent_shutdown},
 * {@code hot_restart_version}, {@code long_line_bytes} (one line that long on stdout at start)),
 * {@code ENVOY_STANDIN_SHM_DIR} (default /dev/shm),
 * {@code ENVOY_STANDIN_OUTBOUND_PORT} and {@code ENVOY_STANDIN_INBOUND_PORT}, {@code ENVOY_STANDIN_CAPTURE_ADDRESS}
 * (the capture listeners' address, default 127.0.0.1), {@code ENVOY_STANDIN_ROUTES} (see above).
 */
public final class EnvoyStandIn {
    private final Map<String, String> flags;
    private final int epoch;
    private final Path record;
    private final Properties faults = new Properties();
    private final Path shmDir;
    private final String baseId;
    private final ScheduledExecutorService timers = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "standin-timer");
        t.setDaemon(true);
        return t;
    });
    private final EventLoopGroup http = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final EventLoopGroup capture = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final List<AutoCloseable> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, List<String>> certs = new ConcurrentHashMap<>();
    /** The secrets as SDS sent them (key material included), for the outbound mTLS; never logged. */
    private final Map<String, Secret> secrets = new ConcurrentHashMap<>();
    private final StandInRoutes routes;
    private final List<String> secretsNeeded = new ArrayList<>();
    private final AtomicInteger activeConnections = new AtomicInteger();
    private final Instant started = Instant.now();
    private volatile String state = "PRE_INITIALIZING";
    private volatile boolean healthFailed;
    private volatile boolean handedOver;
    private Bootstrap bootstrap;
    private SdsTestClient sds;
    private ServerSocketChannel hotRestartSocket;
    private AutoCloseable inboundListener;

    private EnvoyStandIn(Map<String, String> flags) {
        this.flags = flags;
        this.epoch = Integer.parseInt(flags.getOrDefault("--restart-epoch", "0"));
        this.record = Optional.ofNullable(System.getenv("ENVOY_STANDIN_RECORD")).map(Path::of).orElse(null);
        try {
            this.routes = StandInRoutes.fromEnvironment();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        this.shmDir = Path.of(Optional.ofNullable(System.getenv("ENVOY_STANDIN_SHM_DIR")).orElse("/dev/shm"));
        // Envoy scales --base-id by 10 to leave room for the epochs' domain sockets (options_impl.cc).
        this.baseId = Long.toString(10L * Long.parseLong(flags.getOrDefault("--base-id", "0").matches("[0-9]{1,9}")
                ? flags.getOrDefault("--base-id", "0") : "0"));
    }

    /** What {@code --version} prints: an Istio proxy build's form (istio/proxy's sha, Envoy's version, -dev). */
    static final String VERSION = "envoy  version: 0123456789abcdef0123456789abcdef01234567/1.29.3-dev/Clean/RELEASE/"
            + "BoringSSL";
    /** Envoy's hot-restart version of 1.2x ("11." + the shared memory's size); a fault may change it. */
    static final String HOT_RESTART_VERSION = "11.104";

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("--version")) {
            System.out.println();
            System.out.println(VERSION);
            System.out.println();
            System.exit(0);
        }
        if (args.length == 1 && args[0].equals("--hot-restart-version")) {
            System.out.println(hotRestartVersion(loadFaults()));
            System.exit(0);
        }
        Map<String, String> flags;
        try {
            flags = parseFlags(args);
        } catch (IllegalArgumentException e) {
            System.err.println("PARSE ERROR: " + e.getMessage());
            System.exit(1);
            return;
        }
        EnvoyStandIn envoy = new EnvoyStandIn(flags);
        try {
            System.exit(envoy.run());
        } catch (Exception e) {
            envoy.log("critical", "error initializing: " + e);
            System.exit(1);
        }
    }

    private static final List<String> VALUED = List.of("-c", "--config-path", "--restart-epoch", "--drain-time-s",
            "--parent-shutdown-time-s", "--service-cluster", "--service-node", "--local-address-ip-version", "-l",
            "--log-level", "--concurrency", "--base-id", "--mode", "--log-format", "--max-obj-name-len",
            "--component-log-level", "--config-yaml", "--drain-strategy", "--file-flush-interval-msec");
    private static final List<String> SWITCHES = List.of("--disable-hot-restart", "--allow-unknown-static-fields",
            "--use-dynamic-base-id");

    static Map<String, String> parseFlags(String[] args) {
        Map<String, String> flags = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (SWITCHES.contains(arg)) {
                flags.put(arg, "true");
            } else if (VALUED.contains(arg)) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("Missing a value for this argument: " + arg);
                }
                flags.put(arg.equals("--config-path") ? "-c" : arg.equals("--log-level") ? "-l" : arg, args[++i]);
            } else {
                throw new IllegalArgumentException("Couldn't find match for argument: " + arg);
            }
        }
        return flags;
    }

    private int run() throws Exception {
        String config = flags.get("-c");
        if (config == null) {
            log("critical", "error initializing configuration '': no configuration given (-c)");
            return 1;
        }
        // Judged by the stand-in's own reading of Envoy's API descriptors, not by the agent's parser.
        StandInBootstrapValidator.Verdict verdict;
        try {
            verdict = StandInBootstrapValidator.judge(Files.readString(Path.of(config)));
        } catch (IOException e) {
            log("critical", "error initializing configuration '" + config + "': " + e.getMessage());
            return 1;
        }
        if (verdict.bootstrap().isEmpty()) {
            log("critical", "error initializing configuration '" + config + "': "
                    + String.join("; ", verdict.problems()));
            return 1;
        }
        bootstrap = verdict.bootstrap().get();
        if ("validate".equals(flags.get("--mode"))) {
            System.out.println("configuration '" + config + "' OK");
            return 0;
        }
        faults.putAll(loadFaults());
        String strategy = flags.getOrDefault("--drain-strategy", "gradual");
        if (!strategy.equals("immediate") && !strategy.equals("gradual")) {
            log("critical", "error: unknown drain strategy '" + strategy + "'");
            return 1;
        }
        if (!flags.getOrDefault("--base-id", "0").matches("[0-9]{1,9}")) {
            log("critical", "error: --base-id must be a uint32, got '" + flags.get("--base-id") + "'");
            return 1;
        }
        log("info", "initializing epoch " + epoch + " (pid " + ProcessHandle.current().pid() + ")");
        if (Boolean.parseBoolean(faults.getProperty("crash_at_start", "false"))) {
            // A binary that dies at start (before it talks to its parent), as a bad build would.
            log("critical", "injected crash at start");
            Runtime.getRuntime().halt(134);
        }
        String longLine = faults.getProperty("long_line_bytes");
        if (longLine != null) {
            // One line of that many bytes on stdout, written in pieces: the stand-in holds no copy of it.
            byte[] piece = "y".repeat(65536).getBytes(StandardCharsets.US_ASCII);
            long left = Long.parseLong(longLine);
            while (left > 0) {
                int n = (int) Math.min(left, piece.length);
                System.out.write(piece, 0, n);
                left -= n;
            }
            System.out.write('\n');
            System.out.flush();
        }
        if (!takeOverFromParent()) {
            return 1;
        }
        if (Boolean.parseBoolean(faults.getProperty("ignore_sigterm", "false"))) {
            // A stuck Envoy: SIGTERM is recorded and otherwise ignored, so only SIGKILL ends it.
            Signal.handle(new Signal("TERM"), s -> append("epoch=" + epoch + " SIGTERM ignored"));
        } else {
            Signal.handle(new Signal("TERM"), s -> shutdown("SIGTERM", 0));
        }
        Signal.handle(new Signal("INT"), s -> shutdown("SIGINT", 0));
        startListeners();
        startSds();
        String crashAfter = faults.getProperty("crash_after_ms");
        if (crashAfter != null) {
            timers.schedule(() -> {
                log("critical", "injected crash: aborting");
                // Die by SIGABRT as a failed Envoy assertion does; the JVM leaves SIGABRT at its default action.
                try {
                    new ProcessBuilder("kill", "-ABRT", Long.toString(ProcessHandle.current().pid())).start()
                            .waitFor();
                } catch (IOException e) {
                    Runtime.getRuntime().halt(134);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, Long.parseLong(crashAfter), TimeUnit.MILLISECONDS);
        }
        Thread.currentThread().join();
        return 0;
    }

    /** Epoch 0 claims the shared memory; epoch N asks epoch N-1 to hand over its ports. */
    private boolean takeOverFromParent() throws IOException {
        Path shm = shmDir.resolve("envoy_shared_memory_" + baseId);
        if (epoch == 0) {
            try {
                Files.writeString(shm, Long.toString(ProcessHandle.current().pid()), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                log("critical", "unable to initialize hot restart: shared memory " + shm
                        + " already exists (previous Envoy still running or crashed); see --base-id");
                return false;
            }
        } else {
            Path parent = hotRestartPath(epoch - 1);
            try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(parent))) {
                channel.write(ByteBuffer.wrap(("RELEASE " + hotRestartVersion(faults) + "\n")
                        .getBytes(StandardCharsets.US_ASCII)));
                ByteBuffer answer = ByteBuffer.allocate(64);
                while (channel.read(answer) >= 0 && !new String(answer.array(), 0, answer.position(),
                        StandardCharsets.US_ASCII).contains("\n")) {
                    // read until the parent's one-line answer
                }
                String reply = new String(answer.array(), 0, answer.position(), StandardCharsets.US_ASCII).strip();
                if (!reply.equals("RELEASED")) {
                    // As Envoy: "Hot restart version mismatch"; the parent keeps everything and serves on.
                    log("critical", "unable to hot restart from parent epoch " + (epoch - 1) + ": " + reply);
                    return false;
                }
            } catch (IOException e) {
                log("critical", "unable to connect to parent epoch " + (epoch - 1) + " at " + parent + ": " + e);
                return false;
            }
        }
        hotRestartSocket = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        Path own = hotRestartPath(epoch);
        Files.deleteIfExists(own);
        hotRestartSocket.bind(UnixDomainSocketAddress.of(own));
        Thread child = new Thread(this::serveChild, "standin-hot-restart");
        child.setDaemon(true);
        child.start();
        return true;
    }

    /** The faults file ({@code ENVOY_STANDIN_FAULTS}), read now; empty when there is none. */
    private static Properties loadFaults() {
        Properties loaded = new Properties();
        String file = System.getenv("ENVOY_STANDIN_FAULTS");
        if (file != null && Files.exists(Path.of(file))) {
            try (InputStream in = Files.newInputStream(Path.of(file))) {
                loaded.load(in);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return loaded;
    }

    private static String hotRestartVersion(Properties faults) {
        return faults.getProperty("hot_restart_version", HOT_RESTART_VERSION);
    }

    private Path hotRestartPath(int e) {
        return shmDir.resolve("envoy_hot_restart_" + baseId + "_" + e);
    }

    /** Parent side of a hot restart: release every port, then retire after --parent-shutdown-time-s. */
    private void serveChild() {
        try (SocketChannel child = hotRestartSocket.accept()) {
            // Read the child's request before answering, so neither side writes to a closed socket.
            ByteBuffer request = ByteBuffer.allocate(64);
            while (child.read(request) >= 0 && !new String(request.array(), 0, request.position(),
                    StandardCharsets.US_ASCII).contains("\n")) {
                // until the one-line request is complete
            }
            String asked = new String(request.array(), 0, request.position(), StandardCharsets.US_ASCII).strip();
            String ours = hotRestartVersion(faults);
            if (!asked.equals("RELEASE " + ours)) {
                append("epoch=" + epoch + " HOT_RESTART refused: " + asked);
                child.write(ByteBuffer.wrap(("VERSION_MISMATCH parent " + ours + "\n")
                        .getBytes(StandardCharsets.US_ASCII)));
                // Serve the next child that asks.
                Thread next = new Thread(this::serveChild, "standin-hot-restart");
                next.setDaemon(true);
                next.start();
                return;
            }
            closeListeners();
            handedOver = true;
            state = "DRAINING";
            append("epoch=" + epoch + " HOT_RESTART handed over");
            child.write(ByteBuffer.wrap("RELEASED\n".getBytes(StandardCharsets.US_ASCII)));
            long retireAfter = Long.parseLong(flags.getOrDefault("--parent-shutdown-time-s", "60"));
            if (!Boolean.parseBoolean(faults.getProperty("ignore_parent_shutdown", "false"))) {
                timers.schedule(() -> shutdown("PARENT_SHUTDOWN", 0), retireAfter, TimeUnit.SECONDS);
            }
        } catch (IOException e) {
            log("debug", "hot restart socket closed: " + e);
        }
    }

    private void startListeners() throws Exception {
        Address admin = bootstrap.getAdmin().getAddress();
        if (admin.hasPipe()) {
            // As Envoy does: unlink, bind, chmod to the Pipe's mode.
            listeners.add(StandInHttpServer.onPipe(capture, Path.of(admin.getPipe().getPath()),
                    admin.getPipe().getMode(), this::admin));
        } else {
            listeners.add(new StandInHttpServer(http, new InetSocketAddress(admin.getSocketAddress().getAddress(),
                    admin.getSocketAddress().getPortValue()), this::admin));
        }
        for (Listener listener : bootstrap.getStaticResources().getListenersList()) {
            String prefix = routePrefix(listener);
            int port = listener.getAddress().getSocketAddress().getPortValue();
            listeners.add(new StandInHttpServer(http, new InetSocketAddress("127.0.0.1", port),
                    req -> listenerRoute(prefix, req)));
        }
        listeners.add(captureListener(port("ENVOY_STANDIN_OUTBOUND_PORT", 15001), this::outbound));
        inboundListener = captureListener(port("ENVOY_STANDIN_INBOUND_PORT", 15006), this::inbound);
        listeners.add(inboundListener);
    }

    private static int port(String variable, int fallback) {
        return Optional.ofNullable(System.getenv(variable)).map(Integer::parseInt).orElse(fallback);
    }

    private static String routePrefix(Listener listener) throws IOException {
        HttpConnectionManager manager = listener.getFilterChains(0).getFilters(0).getTypedConfig()
                .unpack(HttpConnectionManager.class);
        return manager.getRouteConfig().getVirtualHosts(0).getRoutes(0).getMatch().getPrefix();
    }

    private StandInHttpServer.Reply listenerRoute(String prefix, FullHttpRequest req) {
        if (!req.uri().startsWith(prefix)) {
            return StandInHttpServer.Reply.text(404, "no route\n");
        }
        if (prefix.equals("/stats/prometheus")) {
            return StandInHttpServer.Reply.text(200, prometheus());
        }
        boolean ready = state.equals("LIVE") && !healthFailed;
        return StandInHttpServer.Reply.text(ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
    }

    /**
     * An outbound connection with a route goes over mTLS with the identity SDS gave (certificate {@code default},
     * trust {@code ROOTCA}), as Istio's outbound cluster's UpstreamTlsContext does; the stand-in names the original
     * destination to the far side ({@code x-envoy-original-dst-host}, the header Envoy's original-destination
     * cluster reads) and marks the answer as its own with {@code server: envoy}, as Envoy's connection manager
     * overwrites the server header by default (server_header_transformation OVERWRITE, Envoy 1.2x).
     */
    private Optional<CaptureListener.Relay> outbound(String originalDestination) throws Exception {
        Optional<StandInRoutes.Outbound> route = routes.outbound(originalDestination);
        if (route.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new CaptureListener.Relay(route.get().upstream(),
                Optional.of(clientTls(route.get().san())), route.get().sni(), Map.of("x-envoy-original-dst-host", originalDestination),
                Map.of("server", "envoy")));
    }

    /** An inbound connection with a route goes, plain, to the application. */
    private Optional<CaptureListener.Relay> inbound(String originalDestination) {
        return routes.inbound(originalDestination).map(CaptureListener.Relay::plain);
    }

    /**
     * A client TLS context from the secrets SDS pushed last, built per connection so that a rotated identity is
     * used from the next connection on, as Envoy's SDS-backed contexts are; the upstream must chain to ROOTCA and,
     * when the route names one, present {@code upstreamIdentity} ({@link PeerIdentityTrustManager}).
     */
    private SslContext clientTls(Optional<String> upstreamIdentity) throws IOException, GeneralSecurityException {
        Secret workload = secrets.get("default");
        Secret root = secrets.get("ROOTCA");
        if (workload == null || root == null) {
            throw new IOException("no identity from SDS yet (default and ROOTCA)");
        }
        // BoringSSL, as Envoy's: the JDK's TLS will not send Istio's SNI. Istio checks the peer's SPIFFE id, not a
        // host name, so no host-name verification (netty 4.2 turns it on by default).
        return SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL).endpointIdentificationAlgorithm(null)
                .keyManager(workload.getTlsCertificate().getCertificateChain().getInlineBytes().newInput(),
                        workload.getTlsCertificate().getPrivateKey().getInlineBytes().newInput())
                .trustManager(PeerIdentityTrustManager.of(root.getValidationContext().getTrustedCa().getInlineBytes()
                        .toByteArray(), upstreamIdentity))
                .build();
    }

    private AutoCloseable captureListener(int port, CaptureListener.Router router) throws InterruptedException {
        // Envoy's capture listeners take every address; the fixture keeps them on loopback unless a test that
        // sends real packets from another network namespace asks for all addresses.
        String address = Optional.ofNullable(System.getenv("ENVOY_STANDIN_CAPTURE_ADDRESS")).orElse("127.0.0.1");
        return new CaptureListener(capture, new InetSocketAddress(address, port), epoch, router,
                activeConnections::incrementAndGet, closedPort -> {
                    activeConnections.decrementAndGet();
                    append("epoch=" + epoch + " CONNECTION_CLOSED " + closedPort);
                });
    }

    private void startSds() {
        Map<String, Path> secrets = new LinkedHashMap<>();
        for (Cluster cluster : bootstrap.getStaticResources().getClustersList()) {
            if (!cluster.hasTransportSocket()) {
                continue;
            }
            try {
                CommonTlsContext tls = cluster.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class)
                        .getCommonTlsContext();
                for (SdsSecretConfig config : tls.getTlsCertificateSdsSecretConfigsList()) {
                    secrets.put(config.getName(), sdsSocket(config.getSdsConfig()));
                }
                if (tls.hasCombinedValidationContext()) {
                    SdsSecretConfig config = tls.getCombinedValidationContext().getValidationContextSdsSecretConfig();
                    secrets.put(config.getName(), sdsSocket(config.getSdsConfig()));
                }
            } catch (IOException e) {
                throw new IllegalStateException("cluster " + cluster.getName() + ": " + e, e);
            }
        }
        secretsNeeded.addAll(secrets.keySet());
        state = "INITIALIZING";
        if (secrets.isEmpty()) {
            goLive();
            return;
        }
        sds = new SdsTestClient(secrets.values().iterator().next());
        for (String name : secrets.keySet()) {
            openStream(name);
        }
    }

    private void openStream(String name) {
        SdsTestClient.Stream stream = sds.stream(name, this::judge, this::hold);
        // Envoy retries a broken SDS stream; so does the stand-in (the agent may start SDS after us).
        timers.schedule(() -> {
            if (stream.failure().isPresent()) {
                openStream(name);
            } else {
                timers.schedule(() -> watch(stream, name), 200, TimeUnit.MILLISECONDS);
            }
        }, 200, TimeUnit.MILLISECONDS);
    }

    private void watch(SdsTestClient.Stream stream, String name) {
        if (stream.failure().isPresent()) {
            openStream(name);
        } else {
            timers.schedule(() -> watch(stream, name), 200, TimeUnit.MILLISECONDS);
        }
    }

    private Path sdsSocket(ConfigSource source) {
        String cluster = source.getApiConfigSource().getGrpcServices(0).getEnvoyGrpc().getClusterName();
        Cluster sdsCluster = bootstrap.getStaticResources().getClustersList().stream()
                .filter(c -> c.getName().equals(cluster)).findFirst()
                .orElseThrow(() -> new IllegalStateException("no cluster " + cluster));
        return Path.of(sdsCluster.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress()
                .getPipe().getPath());
    }

    private Optional<String> judge(DiscoveryResponse response) {
        if (Boolean.parseBoolean(faults.getProperty("nack_all", "false"))) {
            return Optional.of("injected NACK for version " + response.getVersionInfo());
        }
        try {
            for (var any : response.getResourcesList()) {
                Secret secret = any.unpack(Secret.class);
                if (secret.hasTlsCertificate() && serials(secret.getTlsCertificate().getCertificateChain()
                        .getInlineBytes().toByteArray()).isEmpty()) {
                    return Optional.of("Failed to load certificate chain from <inline>");
                }
            }
        } catch (IOException | CertificateException e) {
            return Optional.of("Failed to load certificate: " + e.getMessage());
        }
        return Optional.empty();
    }

    private void hold(Secret secret) {
        try {
            byte[] pem = secret.hasTlsCertificate()
                    ? secret.getTlsCertificate().getCertificateChain().getInlineBytes().toByteArray()
                    : secret.getValidationContext().getTrustedCa().getInlineBytes().toByteArray();
            certs.put(secret.getName(), serials(pem));
            secrets.put(secret.getName(), secret);
            log("info", "SDS secret " + secret.getName() + " updated: serials " + certs.get(secret.getName()));
        } catch (CertificateException e) {
            throw new IllegalStateException(e);
        }
        if (certs.keySet().containsAll(secretsNeeded)) {
            goLive();
        }
    }

    private void goLive() {
        if (Boolean.parseBoolean(faults.getProperty("never_live", "false"))) {
            return;
        }
        String gate = faults.getProperty("live_when_exists");
        if (gate != null && !Files.exists(Path.of(gate))) {
            // Held INITIALIZING until the test creates the file: e.g. to see systemd's unit "activating" while the
            // agent waits for Envoy to become LIVE before READY. Checked again every 50 ms.
            timers.schedule(this::goLive, 50, TimeUnit.MILLISECONDS);
            return;
        }
        if (state.equals("INITIALIZING")) {
            state = "LIVE";
            log("info", "all clusters initialized; epoch " + epoch + " is LIVE");
        }
    }

    private static List<String> serials(byte[] pem) throws CertificateException {
        List<String> serials = new ArrayList<>();
        for (var cert : CertificateFactory.getInstance("X.509")
                .generateCertificates(new ByteArrayInputStream(pem))) {
            serials.add(((X509Certificate) cert).getSerialNumber().toString(16));
        }
        return serials;
    }

    private StandInHttpServer.Reply admin(FullHttpRequest req) {
        append("epoch=" + epoch + " " + req.method() + " " + req.uri());
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        boolean post = req.method().equals(HttpMethod.POST);
        switch (uri.path()) {
            case "/ready":
                return StandInHttpServer.Reply.text(state.equals("LIVE") ? 200 : 503, state + "\n");
            case "/server_info":
                return StandInHttpServer.Reply.json("{\"state\":\"" + state + "\",\"epoch\":" + epoch
                        + ",\"command_line_options\":{\"restart_epoch\":" + epoch + ",\"base_id\":\"" + baseId
                        + "\",\"service_cluster\":\"" + flags.getOrDefault("--service-cluster", "")
                        + "\",\"service_node\":\"" + flags.getOrDefault("--service-node", "")
                        + "\",\"drain_time\":\"" + flags.getOrDefault("--drain-time-s", "600") + "s\""
                        + ",\"parent_shutdown_time\":\"" + flags.getOrDefault("--parent-shutdown-time-s", "900")
                        + "s\",\"concurrency\":" + flags.getOrDefault("--concurrency", "0")
                        + ",\"log_level\":\"" + flags.getOrDefault("-l", "info") + "\""
                        + ",\"local_address_ip_version\":\"" + flags.getOrDefault("--local-address-ip-version", "v4")
                        + "\",\"drain_strategy\":\"" + flags.getOrDefault("--drain-strategy", "gradual")
                        + "\"},\"pid\":" + ProcessHandle.current().pid() + ",\"uid\":" + uid() + "}\n");
            case "/certs":
                return StandInHttpServer.Reply.json(certsJson());
            case "/stats/prometheus":
                return StandInHttpServer.Reply.text(200, prometheus());
            case "/quitquitquit":
                if (!post) {
                    return StandInHttpServer.Reply.text(405, "This endpoint requires POST\n");
                }
                timers.schedule(() -> shutdown("QUITQUITQUIT", 0), 10, TimeUnit.MILLISECONDS);
                return StandInHttpServer.Reply.text(200, "OK\n");
            case "/healthcheck/fail":
                if (!post) {
                    return StandInHttpServer.Reply.text(405, "This endpoint requires POST\n");
                }
                healthFailed = true;
                return StandInHttpServer.Reply.text(200, "OK\n");
            case "/drain_listeners":
                if (!post) {
                    return StandInHttpServer.Reply.text(405, "This endpoint requires POST\n");
                }
                // Stop accepting; connections already open drain on their own.
                closeQuietly(uri.parameters().containsKey("inboundonly") ? inboundListener : null);
                if (!uri.parameters().containsKey("inboundonly")) {
                    closeListenersExceptAdmin();
                }
                return StandInHttpServer.Reply.text(200, "OK\n");
            default:
                return StandInHttpServer.Reply.text(404, "invalid path: " + uri.path() + "\n");
        }
    }

    private String certsJson() {
        StringBuilder json = new StringBuilder("{\"certificates\":[{\"ca_cert\":[");
        json.append(serialObjects(certs.getOrDefault("ROOTCA", List.of())));
        json.append("],\"cert_chain\":[");
        json.append(serialObjects(certs.getOrDefault("default", List.of())));
        return json.append("]}]}\n").toString();
    }

    private static String serialObjects(List<String> serials) {
        return String.join(",", serials.stream().map(s -> "{\"serial_number\":\"" + s + "\"}").toList());
    }

    private String prometheus() {
        return "# TYPE envoy_server_live gauge\nenvoy_server_live " + (state.equals("LIVE") ? 1 : 0) + "\n"
                + "# TYPE envoy_server_hot_restart_epoch gauge\nenvoy_server_hot_restart_epoch " + epoch + "\n"
                + "# TYPE envoy_server_total_connections gauge\nenvoy_server_total_connections "
                + activeConnections.get() + "\n";
    }

    private static long uid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException e) {
            return -1;
        }
    }

    private void closeListenersExceptAdmin() {
        for (int i = 1; i < listeners.size(); i++) {
            closeQuietly(listeners.get(i));
        }
    }

    private void closeListeners() {
        for (AutoCloseable listener : listeners) {
            closeQuietly(listener);
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        if (closeable == null) {
            return;
        }
        try {
            closeable.close();
        } catch (Exception e) {
            // Already closed.
        }
    }

    private synchronized void shutdown(String why, int code) {
        append("epoch=" + epoch + " " + why);
        log("info", "shutting down epoch " + epoch + ": " + why);
        closeListeners();
        if (!handedOver) {
            // The last epoch out removes the shared memory; a crash leaves it behind, as Envoy's does.
            try {
                Files.deleteIfExists(shmDir.resolve("envoy_shared_memory_" + baseId));
            } catch (IOException e) {
                log("error", "cannot remove shared memory: " + e);
            }
        }
        try {
            Files.deleteIfExists(hotRestartPath(epoch));
        } catch (IOException e) {
            log("error", "cannot remove hot restart socket: " + e);
        }
        Runtime.getRuntime().halt(code);
    }

    private void append(String line) {
        if (record == null) {
            return;
        }
        try {
            Files.writeString(record, line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            log("error", "cannot record '" + line + "': " + e);
        }
    }

    private static final List<String> LEVELS = List.of("trace", "debug", "info", "warning", "error", "critical");

    private void log(String level, String message) {
        String threshold = flags.getOrDefault("-l", "info");
        if (threshold.equals("off") || LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) {
            return;
        }
        System.err.println("[" + Instant.now() + "][" + ProcessHandle.current().pid() + "][" + level + "][main] "
                + message);
        System.err.flush();
    }
}
