package io.istiovm.agent.sds;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.envoyproxy.envoy.service.secret.v3.SecretDiscoveryServiceGrpc;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.lifecycle.IdleEventLoops;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import io.istiovm.agent.lifecycle.StatusReporter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's Secret Discovery Service on a unix socket: {@code StreamSecrets} and {@code FetchSecrets} for the
 * workload identity ({@code default}: certificate and key; {@code ROOTCA}: trust anchors) and for files, as
 * pilot-agent serves them ({@code file-root:system}, {@code file-root:PATH}, {@code file-cert:CERT~KEY}, read by
 * {@link SecretFileReader}); every open stream is pushed what changed (a new identity, a file whose content changed).
 *
 * <p>Who may connect: the socket is 0660 with Envoy's group, and a directory the agent creates for it 0750 with
 * that group; between bind and chmod the socket has the umask's mode, which (with the daemon's umask 022 or
 * tighter) denies connecting to anyone else, since connecting needs write access. Of those who can connect, only
 * Envoy's uid and root are served: {@link PeerCredentialsCheck} closes any other connection before gRPC sees it.
 * Requests are bounded ({@value #MAX_REQUEST_BYTES} bytes a message, {@value #MAX_METADATA_BYTES} bytes of
 * headers, {@value #MAX_RESOURCE_NAMES} names a request, {@value #MAX_FILE_SECRETS} file secrets watched).
 *
 * <p>As a component: {@link #prepare()} reads the settings, picks the OS trust bundle and refuses a socket path
 * taken by something that is not a socket; {@link Plan#start} binds and is READY once listening, and polls the
 * served files on its loop. A reload may change the socket's group, Envoy's uid and the file directories (applied
 * at once); a new socket path needs a restart, since Envoy's running bootstrap names the old one.
 */
public final class SdsServer implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(SdsServer.class);
    private static final String SOCKET_KEY = "VM_AGENT_SDS_SOCKET";
    /** Envoy's requests carry its node (Istio's metadata is a few KB): far below this. */
    static final int MAX_REQUEST_BYTES = 1 << 20;
    static final int MAX_METADATA_BYTES = 16 << 10;
    static final int MAX_RESOURCE_NAMES = 64;
    static final int MAX_FILE_SECRETS = 256;
    /** Envoy opens a stream or two per secret per epoch. */
    private static final int MAX_CALLS_PER_CONNECTION = 128;

    private final IdentitySource identities;
    private final Callable<SdsSettings> settings;

    /**
     * {@code settings} is read in {@link #prepare()}, so that what it needs from the host (Envoy's group) is a
     * refusal to prepare when it cannot be had.
     */
    public SdsServer(IdentitySource identities, Callable<SdsSettings> settings) {
        this.identities = Objects.requireNonNull(identities, "identities");
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Override
    public String name() {
        return "sds";
    }

    @Override
    public Plan prepare() throws Exception {
        SdsSettings s = settings.call();
        refuseNonSocket(s.socket());
        return new Plan(s, osTrustBundle(s.osTrustBundles()));
    }

    /** A file in the socket's place that is not a socket is someone else's; it is never replaced. */
    private static void refuseNonSocket(Path socket) throws IOException {
        refuseNonSocket(socket, socket);
    }

    /** As above, for the entry at {@code entry}, named {@code shown} in the message. */
    private static void refuseNonSocket(Path entry, Path shown) throws IOException {
        if (Files.exists(entry, LinkOption.NOFOLLOW_LINKS) && !isSocket(entry)) {
            throw new IOException(shown + " exists and is not a socket; refusing to replace it (" + SOCKET_KEY
                    + ")");
        }
    }

    /** As pilot-agent picks it: the first of the candidates that exists. */
    private static Optional<Path> osTrustBundle(List<Path> candidates) {
        for (Path candidate : candidates) {
            if (Files.exists(candidate)) {
                return Optional.of(candidate);
            }
        }
        LOG.warn("no OS trust bundle found (looked for {}): file-root:system will be refused", candidates);
        return Optional.empty();
    }

    private static boolean isSocket(Path path) throws IOException {
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0170000) == 0140000;
    }

    /** The server to start: where it listens and for whom. */
    public final class Plan implements Prepared {
        private final SdsSettings settings;
        private final Optional<Path> osTrustBundle;

        private Plan(SdsSettings settings, Optional<Path> osTrustBundle) {
            this.settings = settings;
            this.osTrustBundle = osTrustBundle;
        }

        public SdsSettings settings() {
            return settings;
        }

        /** The bundle {@code file-root:system} serves, when one exists. */
        public Optional<Path> osTrustBundle() {
            return osTrustBundle;
        }

        @Override
        public void describe(PrintWriter out) {
            out.println("sds socket " + settings.socket() + " mode 0660" + settings.socketGroup().stream()
                    .mapToObj(g -> " group " + g).findFirst().orElse("") + ", served to uids 0 and "
                    + settings.envoyUid() + "; secrets default, ROOTCA, file-root:system ("
                    + osTrustBundle.map(Path::toString).orElse("no OS bundle") + "), file-root:/file-cert: below "
                    + settings.fileDirectories());
        }

        @Override
        public Serving start(ComponentContext context) throws IOException, InterruptedException {
            Serving serving = new Serving(this);
            serving.listen();
            serving.startPolling(context);
            context.status().ready("listening on " + settings.socket());
            return serving;
        }
    }

    /** The server while it listens. */
    public final class Serving implements Running {
        private final Path socket;
        private OptionalInt socketGroup;
        private boolean createdDirectory;
        /**
         * Whether our socket stands at the socket's name: only then is that name ours to unlink. Before the rename
         * it is whatever was there (a file we refused, a killed agent's socket), and a failed start must leave it.
         */
        private boolean placed;
        /** The socket's directory, held: it may belong to Envoy's user, who can swap its entries at any time. */
        private HeldDirectory directory;
        /** Where the socket was bound, kept open while the server runs (netty removes its bound path on close). */
        private HeldDirectory staging;
        /** The staging directory's name while it exists, so that a failed start removes it. */
        private String stagingName;
        /** The socket's inode, for its mode and group whatever its name later points to. */
        private HeldDirectory.InodeHandle socketInode;
        private final AtomicLong nonces = new AtomicLong();
        private final AtomicLong streamIds = new AtomicLong();
        private final Map<Long, SdsStream> streams = new ConcurrentHashMap<>();
        private final PeerCredentialsCheck peers;
        private final Optional<Path> osTrustBundle;
        private final Duration pollInterval;
        private int envoyUid;
        private List<Path> fileDirectories;
        private volatile SecretFileReader files;
        /** The file secrets open streams asked for, as last read; the poll re-reads them. */
        private final Map<String, SecretFileReader.FileSecret> fileSecrets = new ConcurrentHashMap<>();
        /** The last failure of each watched file secret's re-read, so that a failure is logged once. */
        private final Map<String, String> fileFailures = new ConcurrentHashMap<>();
        private EventLoopGroup loop;
        private Server server;
        private Loop poll;
        /** Set when serving starts; stream opens and closes report through it. */
        private volatile StatusReporter status;
        private IdentitySource.Subscription subscription;

        private Serving(Plan plan) {
            this.socket = plan.settings().socket();
            this.socketGroup = plan.settings().socketGroup();
            this.envoyUid = plan.settings().envoyUid();
            this.peers = new PeerCredentialsCheck(envoyUid);
            this.osTrustBundle = plan.osTrustBundle();
            this.fileDirectories = plan.settings().fileDirectories();
            this.files = new SecretFileReader(fileDirectories);
            this.pollInterval = plan.settings().filePollInterval();
        }

        private synchronized void startPolling(ComponentContext context) {
            this.status = context.status();
            reportFacts();
            poll = context.startLoop(this::pollFiles);
        }

        /** Where SDS is served and how many streams Envoy holds open, for /debug/status; on open and close. */
        private void reportFacts() {
            StatusReporter reporter = status;
            if (reporter != null) {
                Map<String, String> facts = new LinkedHashMap<>();
                facts.put("socket", socket.toString());
                facts.put("streams", Integer.toString(streams.size()));
                reporter.facts(facts);
            }
        }

        public Path socket() {
            return socket;
        }

        /**
         * Binds the socket where no one else can touch it, sets its mode and group there, then renames it into
         * place: the socket's directory may be Envoy's user's, and a chmod by name after binding there would follow
         * whatever link that user put in the socket's place.
         */
        private synchronized void listen() throws IOException, InterruptedException {
            String name = socket.getFileName().toString();
            // One thread accepts and serves: a handful of streams from one Envoy (two per epoch).
            loop = IdleEventLoops.sleepWhenIdle(new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()));
            subscription = identities.subscribe(this::pushToAll);
            try {
                prepareDirectory(name);
                String made = ".sds-staging-" + Long.toHexString(new java.security.SecureRandom().nextLong());
                if (!directory.makeDirectory(made)) {
                    // Not ours: neither bound in nor removed after a failure.
                    throw new IOException(directory.path().resolve(made) + " exists already");
                }
                stagingName = made;
                staging = directory.openDirectory(stagingName);
                server = NettyServerBuilder.forAddress(new DomainSocketAddress(staging.entry("socket").toString()))
                        .channelFactory(() -> {
                            // The peer check first in the listening channel's pipeline, ahead of netty's acceptor.
                            EpollServerDomainSocketChannel channel = new EpollServerDomainSocketChannel();
                            channel.pipeline().addLast(peers);
                            return channel;
                        })
                        // gRPC sets SO_KEEPALIVE on every accepted channel, which a unix socket has no use for:
                        // netty would log "Unknown channel option" once per Envoy connection (grpc-java#10408).
                        .withChildOption(io.netty.channel.ChannelOption.SO_KEEPALIVE, null)
                        .maxInboundMessageSize(MAX_REQUEST_BYTES)
                        .maxInboundMetadataSize(MAX_METADATA_BYTES)
                        .maxConcurrentCallsPerConnection(MAX_CALLS_PER_CONNECTION)
                        .bossEventLoopGroup(loop)
                        .workerEventLoopGroup(loop)
                        // Every handler only records a request or sends a response from memory: they run on the
                        // event loop itself, so that gRPC keeps no executor threads of its own.
                        .directExecutor()
                        .addService(new Service())
                        .build()
                        .start();
                socketInode = staging.holdEntry("socket");
                socketInode.setMode(0660);
                chgrp();
                staging.moveTo("socket", directory, name);
                placed = true;
                directory.deleteDirectory(stagingName);
                stagingName = null;
            } catch (IOException | RuntimeException e) {
                removeStaging();
                try {
                    stop();
                } catch (IOException | RuntimeException stopFailure) {
                    e.addSuppressed(stopFailure);
                }
                removeCreatedDirectory();
                throw e;
            }
            LOG.info("SDS listening on {}", socket);
        }

        /** After a failed start: the staging directory this start made and a socket bound in it, if still there. */
        private void removeStaging() {
            if (stagingName == null) {
                return;
            }
            try {
                if (staging != null) {
                    staging.delete("socket");
                }
                directory.deleteDirectory(stagingName);
                stagingName = null;
            } catch (IOException e) {
                LOG.warn("cannot remove {}: {}", directory.path().resolve(stagingName), e.getMessage());
            }
        }

        /**
         * After a failed start: the socket's directory, when this start created it (Prepared.start leaves nothing
         * of its own behind). Only when empty: rmdir refuses anything else, so nothing put there since is lost.
         */
        private void removeCreatedDirectory() {
            if (!createdDirectory) {
                return;
            }
            Path created = socket.toAbsolutePath().getParent();
            try (HeldDirectory parent = HeldDirectory.open(created.getParent())) {
                parent.deleteDirectory(created.getFileName().toString());
            } catch (IOException e) {
                LOG.warn("cannot remove {}: {}", created, e.getMessage());
            }
        }

        private void prepareDirectory(String name) throws IOException {
            // Only a directory the agent creates is made 0750 for Envoy's group; an existing one (a systemd
            // RuntimeDirectory, or something shared like /run) keeps the mode its owner gave it.
            HeldDirectory.Opened opened = HeldDirectory.openOrCreate(socket.getParent(), 0750, socketGroup);
            directory = opened.directory();
            createdDirectory = opened.created();
            // A socket left by an agent that was killed is replaced by the rename; anything else is refused.
            refuseNonSocket(directory.entry(name), socket);
        }

        private void chgrp() throws IOException {
            if (socketGroup.isPresent()) {
                socketInode.setGroup(socketGroup.getAsInt());
                if (createdDirectory) {
                    directory.setGroup(socketGroup.getAsInt());
                }
            }
        }

        /**
         * Same socket: nothing, or what changed applied at once: a new group given to the socket (and to the
         * directory the agent made), a new Envoy uid served (open connections were checked when they connected),
         * new file directories (streams of a file now outside them end at the next poll, woken now).
         */
        @Override
        public synchronized Reconciled reload(Prepared next) throws IOException {
            if (!(next instanceof Plan plan)) {
                throw new IllegalArgumentException("not an SDS plan: " + next);
            }
            SdsSettings wanted = plan.settings();
            if (!wanted.socket().equals(socket)) {
                return Reconciled.unchanged().withRestartNeeded(SOCKET_KEY + " changed: restart the agent "
                        + "(systemctl restart istio-vm-agent); SDS keeps serving on " + socket);
            }
            List<String> changes = new ArrayList<>();
            if (!wanted.socketGroup().equals(socketGroup)) {
                socketGroup = wanted.socketGroup();
                chgrp();
                changes.add("socket group " + socketGroup.stream().mapToObj(Integer::toString).findFirst()
                        .orElse("unchanged"));
            }
            if (wanted.envoyUid() != envoyUid) {
                envoyUid = wanted.envoyUid();
                peers.serve(envoyUid);
                changes.add("serving uid " + envoyUid);
            }
            if (!wanted.fileDirectories().equals(fileDirectories)) {
                fileDirectories = wanted.fileDirectories();
                files = new SecretFileReader(fileDirectories);
                changes.add("file directories " + fileDirectories);
                if (poll != null) {
                    poll.wake();
                }
            }
            return changes.isEmpty() ? Reconciled.unchanged() : Reconciled.changed(String.join(", ", changes));
        }

        @Override
        public synchronized void stop() throws InterruptedException, IOException {
            if (poll != null) {
                poll.close();
                poll = null;
            }
            if (subscription != null) {
                subscription.close();
                subscription = null;
            }
            if (server != null) {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
                server = null;
            }
            if (loop != null) {
                loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
                loop = null;
            }
            if (socketInode != null) {
                socketInode.close();
                socketInode = null;
            }
            if (staging != null) {
                staging.close();
                staging = null;
            }
            if (directory != null) {
                if (placed) {
                    directory.delete(socket.getFileName().toString());
                    placed = false;
                }
                directory.close();
                directory = null;
            }
        }

        /** Every open stream, for status output and tests. */
        public List<SdsStreamState> streams() {
            List<SdsStreamState> states = new ArrayList<>();
            for (SdsStream stream : streams.values()) {
                states.add(stream.state());
            }
            states.sort((a, b) -> Long.compare(a.id(), b.id()));
            return states;
        }

        /** The latest connections refused for their uid (oldest first). */
        public List<SdsPeer> refusedPeers() {
            return peers.refused();
        }

        private void pushToAll(ServedIdentity identity) {
            LOG.info("identity version {}: pushing to {} SDS stream(s)", identity.version(), streams.size());
            for (SdsStream stream : streams.values()) {
                stream.refresh(name -> FileSecretName.parse(name, osTrustBundle).isEmpty());
            }
        }

        /**
         * One poll of the files served: each one an open stream asked for is read again; a changed one is pushed
         * to the streams that asked for it. A read that fails keeps the last good content (a file being replaced
         * is briefly missing or half-written; pilot-agent retries the same way), except a refusal by the allowed
         * directories, which ends the streams that asked for it.
         */
        private Instant pollFiles(Instant now) {
            Set<String> wanted = new HashSet<>();
            for (SdsStream stream : streams.values()) {
                wanted.addAll(stream.names());
            }
            fileSecrets.keySet().retainAll(wanted);
            fileFailures.keySet().retainAll(wanted);
            for (String name : List.copyOf(fileSecrets.keySet())) {
                FileSecretName file = FileSecretName.parse(name, osTrustBundle).orElseThrow();
                try {
                    SecretFileReader.FileSecret read = files.read(file);
                    fileFailures.remove(name);
                    SecretFileReader.FileSecret before = fileSecrets.put(name, read);
                    if (before != null && !before.version().equals(read.version())) {
                        LOG.info("SDS secret {} changed on disk (version {}): pushing", name, read.version());
                        for (SdsStream stream : streams.values()) {
                            stream.refresh(name::equals);
                        }
                    }
                } catch (SecretFileReader.Refused refused) {
                    if (refused.status().getCode() == Status.Code.PERMISSION_DENIED) {
                        fileSecrets.remove(name);
                        for (SdsStream stream : streams.values()) {
                            stream.endIfAsked(name, refused);
                        }
                    } else if (!refused.getMessage().equals(fileFailures.put(name, refused.getMessage()))) {
                        LOG.warn("SDS secret {}: {}; still serving the last content read", name,
                                refused.getMessage());
                    }
                }
            }
            return now.plus(pollInterval);
        }

        /**
         * The file secret {@code file}: when {@code watch}, from (or into) the watched set, else read now.
         */
        private SecretFileReader.FileSecret fileSecret(FileSecretName file, boolean watch)
                throws SecretFileReader.Refused {
            if (!watch) {
                return files.read(file);
            }
            SecretFileReader.FileSecret known = fileSecrets.get(file.name());
            if (known != null) {
                return known;
            }
            if (fileSecrets.size() >= MAX_FILE_SECRETS) {
                throw new SecretFileReader.Refused(Status.Code.RESOURCE_EXHAUSTED, "more than "
                        + MAX_FILE_SECRETS + " file secrets are watched already");
            }
            SecretFileReader.FileSecret read = files.read(file);
            SecretFileReader.FileSecret raced = fileSecrets.putIfAbsent(file.name(), read);
            return raced != null ? raced : read;
        }

        /**
         * The response carrying {@code names}; empty while one of them needs the workload identity and there is
         * none yet. Its version is the distinct versions of its secrets, joined by {@code /} (the identity's
         * version when it carries only identity secrets, as before file secrets existed).
         */
        private Optional<DiscoveryResponse> respond(List<String> names, boolean watch)
                throws SecretFileReader.Refused {
            if (names.size() > MAX_RESOURCE_NAMES) {
                throw new SecretFileReader.Refused(Status.Code.RESOURCE_EXHAUSTED, names.size()
                        + " resource names in one request; at most " + MAX_RESOURCE_NAMES + " are served");
            }
            Optional<ServedIdentity> identity = identities.current();
            Set<String> versions = new LinkedHashSet<>();
            List<Any> resources = new ArrayList<>();
            for (String name : names) {
                Optional<FileSecretName> file = FileSecretName.parse(name, osTrustBundle);
                if (file.isPresent()) {
                    SecretFileReader.FileSecret secret = fileSecret(file.get(), watch);
                    resources.add(Any.pack(secret.secret()));
                    versions.add(secret.version());
                } else if (identity.isEmpty()) {
                    return Optional.empty();
                } else {
                    resources.add(Any.pack(SecretsPlan.fromIdentity(name, identity.get())));
                    versions.add(identity.get().version());
                }
            }
            return Optional.of(DiscoveryResponse.newBuilder()
                    .setVersionInfo(String.join("/", versions))
                    .setTypeUrl(SecretsPlan.TYPE_URL)
                    .setNonce(Long.toString(nonces.incrementAndGet()))
                    .addAllResources(resources)
                    .build());
        }

        private final class Service extends SecretDiscoveryServiceGrpc.SecretDiscoveryServiceImplBase {
            @Override
            public StreamObserver<DiscoveryRequest> streamSecrets(StreamObserver<DiscoveryResponse> responses) {
                SdsStream stream = new SdsStream(streamIds.incrementAndGet(),
                        (ServerCallStreamObserver<DiscoveryResponse>) responses);
                streams.put(stream.id, stream);
                reportFacts();
                return stream;
            }

            @Override
            public void fetchSecrets(DiscoveryRequest request, StreamObserver<DiscoveryResponse> responses) {
                Optional<DiscoveryResponse> response;
                try {
                    response = respond(List.copyOf(request.getResourceNamesList()), false);
                } catch (SecretFileReader.Refused refused) {
                    LOG.warn("SDS fetch refused: {}", refused.getMessage());
                    responses.onError(refused.status().asException());
                    return;
                }
                if (response.isEmpty()) {
                    responses.onError(Status.UNAVAILABLE.withDescription("no workload identity yet").asException());
                    return;
                }
                responses.onNext(response.get());
                responses.onCompleted();
            }
        }

        /**
         * One {@code StreamSecrets} call, with the xDS rules of Istio's server (1.31-dev {@code pkg/xds/server.go}
         * {@code ShouldRespond}): the stream's first request is answered whatever nonce it carries (Envoy before
         * 1.29 sends the last nonce of its previous stream when it reconnects, envoyproxy/envoy#30155); after that
         * a request carrying the nonce of our last response is an ACK (no error detail) or a NACK (error detail), a
         * request with another nonce is stale and ignored, and a changed resource list is answered at once. A name
         * that cannot be served ends the stream with the refusal's status, as pilot-agent's stream ends with the
         * error of its secret generation.
         */
        private final class SdsStream implements StreamObserver<DiscoveryRequest> {
            private final long id;
            private final ServerCallStreamObserver<DiscoveryResponse> responses;
            private List<String> names = List.of();
            private boolean initialized;
            private String sentNonce = "";
            private String sentVersion;
            private String ackedVersion;
            private String lastRejection;
            private boolean closed;

            SdsStream(long id, ServerCallStreamObserver<DiscoveryResponse> responses) {
                this.id = id;
                this.responses = responses;
            }

            @Override
            public synchronized void onNext(DiscoveryRequest request) {
                if (closed) {
                    return;
                }
                String nonce = request.getResponseNonce();
                boolean first = !initialized;
                initialized = true;
                if (!first && !nonce.isEmpty() && !nonce.equals(sentNonce)) {
                    return;
                }
                if (!first && !nonce.isEmpty()) {
                    if (request.hasErrorDetail()) {
                        lastRejection = request.getErrorDetail().getMessage();
                        LOG.warn("SDS stream {}: Envoy rejected version {} of {}: {}", id, sentVersion, names,
                                lastRejection);
                    } else {
                        ackedVersion = request.getVersionInfo();
                        lastRejection = null;
                        LOG.debug("SDS stream {}: Envoy accepted version {} of {}", id, ackedVersion, names);
                    }
                }
                List<String> requested = List.copyOf(request.getResourceNamesList());
                boolean subscribing = first || nonce.isEmpty() || !requested.equals(names);
                names = requested;
                if (subscribing && !names.isEmpty()) {
                    sendLocked(false);
                }
            }

            synchronized List<String> names() {
                return names;
            }

            /** Sends the stream's secrets again when one of its names is {@code affected} and they changed. */
            synchronized void refresh(java.util.function.Predicate<String> affected) {
                if (names.stream().anyMatch(affected)) {
                    sendLocked(true);
                }
            }

            synchronized void endIfAsked(String name, SecretFileReader.Refused refused) {
                if (names.contains(name)) {
                    end(refused);
                }
            }

            private void sendLocked(boolean onlyIfChanged) {
                if (closed) {
                    return;
                }
                Optional<DiscoveryResponse> response;
                try {
                    response = respond(names, true);
                } catch (SecretFileReader.Refused refused) {
                    end(refused);
                    return;
                }
                if (response.isEmpty() || (onlyIfChanged && response.get().getVersionInfo().equals(sentVersion))) {
                    return;
                }
                sentNonce = response.get().getNonce();
                sentVersion = response.get().getVersionInfo();
                try {
                    responses.onNext(response.get());
                } catch (RuntimeException e) {
                    LOG.debug("SDS stream {}: send failed: {}", id, e.toString());
                }
            }

            private void end(SecretFileReader.Refused refused) {
                LOG.warn("SDS stream {}: ending it: {}", id, refused.getMessage());
                close();
                try {
                    responses.onError(refused.status().asRuntimeException());
                } catch (RuntimeException e) {
                    LOG.debug("SDS stream {}: ending failed: {}", id, e.toString());
                }
            }

            synchronized SdsStreamState state() {
                return new SdsStreamState(id, names, Optional.ofNullable(ackedVersion),
                        Optional.ofNullable(lastRejection));
            }

            @Override
            public void onError(Throwable t) {
                close();
            }

            @Override
            public void onCompleted() {
                close();
                synchronized (this) {
                    try {
                        responses.onCompleted();
                    } catch (RuntimeException e) {
                        LOG.debug("SDS stream {}: completing failed: {}", id, e.toString());
                    }
                }
            }

            private void close() {
                synchronized (this) {
                    closed = true;
                }
                streams.remove(id);
                reportFacts();
            }
        }
    }
}
