package io.istiovm.agent.sds;

import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.envoyproxy.envoy.service.secret.v3.SecretDiscoveryServiceGrpc;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
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
import java.util.ArrayList;
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
 * resources {@code default} (workload certificate and key) and {@code ROOTCA} (trust anchors), pushed to every
 * open stream when the identity changes.
 *
 * <p>Only the agent and Envoy's group can connect: the socket is 0660 with Envoy's group, and a directory the
 * agent creates for it is 0750 with that group. Between bind and chmod the socket has the umask's mode, which
 * (with the daemon's umask 022 or tighter) denies connecting to anyone else, since connecting needs write access.
 *
 * <p>As a component: {@link #prepare()} reads the settings and refuses a socket path taken by something that is
 * not a socket; {@link Plan#start} binds and is READY once listening. A reload may change the socket's group
 * (applied at once); a new socket path needs a restart, since Envoy's running bootstrap names the old one.
 */
public final class SdsServer implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(SdsServer.class);
    private static final String SOCKET_KEY = "VM_AGENT_SDS_SOCKET";

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
        return new Plan(s);
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

    private static boolean isSocket(Path path) throws IOException {
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0170000) == 0140000;
    }

    /** The server to start: where it listens and for whom. */
    public final class Plan implements Prepared {
        private final SdsSettings settings;

        private Plan(SdsSettings settings) {
            this.settings = settings;
        }

        public SdsSettings settings() {
            return settings;
        }

        @Override
        public void describe(PrintWriter out) {
            out.println("sds socket " + settings.socket() + " mode 0660" + settings.socketGroup().stream()
                    .mapToObj(g -> " group " + g).findFirst().orElse("") + ", resources " + SecretsPlan.KNOWN);
        }

        @Override
        public Serving start(ComponentContext context) throws IOException, InterruptedException {
            Serving serving = new Serving(settings);
            serving.listen();
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
        private EventLoopGroup loop;
        private Server server;
        private IdentitySource.Subscription subscription;

        private Serving(SdsSettings settings) {
            this.socket = settings.socket();
            this.socketGroup = settings.socketGroup();
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
            loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
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
                        .channelType(EpollServerDomainSocketChannel.class)
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

        /** Same socket: nothing, or a new group given to the socket (and to the directory the agent made). */
        @Override
        public synchronized Reconciled reload(Prepared next) throws IOException {
            if (!(next instanceof Plan plan)) {
                throw new IllegalArgumentException("not an SDS plan: " + next);
            }
            if (!plan.settings().socket().equals(socket)) {
                return Reconciled.unchanged().withRestartNeeded(SOCKET_KEY + " changed: restart the agent "
                        + "(systemctl restart istio-vm-agent); SDS keeps serving on " + socket);
            }
            if (plan.settings().socketGroup().equals(socketGroup)) {
                return Reconciled.unchanged();
            }
            socketGroup = plan.settings().socketGroup();
            chgrp();
            return Reconciled.changed("socket group " + socketGroup.stream().mapToObj(Integer::toString)
                    .findFirst().orElse("unchanged"));
        }

        @Override
        public synchronized void stop() throws InterruptedException, IOException {
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

        private void pushToAll(ServedIdentity identity) {
            LOG.info("identity version {}: pushing to {} SDS stream(s)", identity.version(), streams.size());
            for (SdsStream stream : streams.values()) {
                stream.push(identity);
            }
        }

        private final class Service extends SecretDiscoveryServiceGrpc.SecretDiscoveryServiceImplBase {
            @Override
            public StreamObserver<DiscoveryRequest> streamSecrets(StreamObserver<DiscoveryResponse> responses) {
                SdsStream stream = new SdsStream(streamIds.incrementAndGet(),
                        (ServerCallStreamObserver<DiscoveryResponse>) responses);
                streams.put(stream.id, stream);
                return stream;
            }

            @Override
            public void fetchSecrets(DiscoveryRequest request, StreamObserver<DiscoveryResponse> responses) {
                Optional<ServedIdentity> identity = identities.current();
                if (identity.isEmpty()) {
                    responses.onError(Status.UNAVAILABLE.withDescription("no workload identity yet").asException());
                    return;
                }
                responses.onNext(response(request.getResourceNamesList(), identity.get()));
                responses.onCompleted();
            }
        }

        private DiscoveryResponse response(List<String> names, ServedIdentity identity) {
            return DiscoveryResponse.newBuilder()
                    .setVersionInfo(identity.version())
                    .setTypeUrl(SecretsPlan.TYPE_URL)
                    .setNonce(Long.toString(nonces.incrementAndGet()))
                    .addAllResources(SecretsPlan.resources(names, identity))
                    .build();
        }

        /**
         * One {@code StreamSecrets} call. xDS rules: the first request subscribes; a request carrying the nonce of
         * our last response is an ACK (no error detail) or a NACK (error detail); a request with an older nonce is
         * stale and ignored; a changed resource list is answered at once.
         */
        private final class SdsStream implements StreamObserver<DiscoveryRequest> {
            private final long id;
            private final ServerCallStreamObserver<DiscoveryResponse> responses;
            private List<String> names = List.of();
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
                String nonce = request.getResponseNonce();
                if (!nonce.isEmpty() && !nonce.equals(sentNonce)) {
                    return;
                }
                if (!nonce.isEmpty()) {
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
                boolean subscribing = nonce.isEmpty() || !requested.equals(names);
                names = requested;
                for (String name : names) {
                    if (!SecretsPlan.KNOWN.contains(name)) {
                        LOG.warn("SDS stream {}: unknown resource '{}' requested; this agent serves {}", id, name,
                                SecretsPlan.KNOWN);
                    }
                }
                if (subscribing) {
                    identities.current().ifPresent(this::sendLocked);
                }
            }

            synchronized void push(ServedIdentity identity) {
                if (!names.isEmpty() && !identity.version().equals(sentVersion)) {
                    sendLocked(identity);
                }
            }

            private void sendLocked(ServedIdentity identity) {
                if (closed) {
                    return;
                }
                DiscoveryResponse response = response(names, identity);
                sentNonce = response.getNonce();
                sentVersion = identity.version();
                try {
                    responses.onNext(response);
                } catch (RuntimeException e) {
                    LOG.debug("SDS stream {}: send failed: {}", id, e.toString());
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
            }
        }
    }
}
