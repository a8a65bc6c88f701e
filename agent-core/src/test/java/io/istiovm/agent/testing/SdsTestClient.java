package io.istiovm.agent.testing;

import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.envoyproxy.envoy.service.secret.v3.SecretDiscoveryServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * An SDS client that behaves as Envoy does on its side of {@code StreamSecrets} (SotW): one stream per resource
 * name, whose first request carries the node (Envoy's {@code sds-grpc} streams do), every response answered with an
 * ACK (version and nonce echoed) or a NACK (previous version, the nonce, and an error detail), as the {@code judge}
 * decides. {@link #resume} opens a stream the way Envoy before 1.29 reconnects one: its first request carries the
 * version and nonce of the previous stream (envoyproxy/envoy#30155). Used by the SDS unit tests and by the Envoy
 * stand-in.
 */
public final class SdsTestClient implements AutoCloseable {
    private final EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final ManagedChannel channel;

    public SdsTestClient(Path socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
                // No SO_KEEPALIVE on a unix socket (gRPC sets it on every channel; netty warns it is unknown).
                .withOption(io.netty.channel.ChannelOption.SO_KEEPALIVE, null)
                .eventLoopGroup(loop)
                .usePlaintext()
                .build();
    }

    /** Accepts every well-formed response. */
    public static Optional<String> acceptAll(DiscoveryResponse response) {
        return Optional.empty();
    }

    /**
     * Opens a stream for {@code resourceName}. {@code judge} returns empty to ACK a response or a reason to NACK
     * it; {@code accepted} hears every secret that was ACKed.
     */
    public Stream stream(String resourceName, Function<DiscoveryResponse, Optional<String>> judge,
                         Consumer<Secret> accepted) {
        return new Stream(resourceName, "", "", judge, accepted);
    }

    /** A stream whose first request reuses {@code version} and {@code nonce} of an earlier stream, as a reconnect. */
    public Stream resume(String resourceName, String version, String nonce,
                         Function<DiscoveryResponse, Optional<String>> judge, Consumer<Secret> accepted) {
        return new Stream(resourceName, version, nonce, judge, accepted);
    }

    /** The node an Envoy of the agent's bootstrap sends (id and cluster as Istio forms them). */
    public static Node node() {
        return Node.newBuilder().setId("sidecar~10.0.0.5~vm-1.vm~vm.svc.cluster.local").setCluster("vm-app.vm")
                .build();
    }

    public DiscoveryResponse fetch(List<String> names) {
        return SecretDiscoveryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                .fetchSecrets(DiscoveryRequest.newBuilder().addAllResourceNames(names).build());
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    /** One open StreamSecrets call for one resource name. */
    public final class Stream implements AutoCloseable {
        private final String name;
        private final Function<DiscoveryResponse, Optional<String>> judge;
        private final Consumer<Secret> accepted;
        private final StreamObserver<DiscoveryRequest> requests;
        private String acceptedVersion = "";
        private String lastNonce = "";
        private Secret lastSecret;
        private int responses;
        private int rejections;
        private Throwable failure;

        Stream(String name, String version, String nonce, Function<DiscoveryResponse, Optional<String>> judge,
               Consumer<Secret> accepted) {
            this.name = name;
            this.judge = judge;
            this.accepted = accepted;
            this.requests = SecretDiscoveryServiceGrpc.newStub(channel).streamSecrets(new Responses());
            synchronized (this) {
                requests.onNext(DiscoveryRequest.newBuilder().setNode(node()).addResourceNames(name)
                        .setTypeUrl("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret")
                        .setVersionInfo(version).setResponseNonce(nonce)
                        .build());
            }
        }

        /** The nonce of the last response received (empty before the first). */
        public synchronized String lastNonce() {
            return lastNonce;
        }

        /** The secret of the last response ACKed. */
        public synchronized Optional<Secret> lastSecret() {
            return Optional.ofNullable(lastSecret);
        }

        /** Waits until the stream ended with an error; false on timeout. */
        public synchronized boolean awaitFailure(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }

        public synchronized String acceptedVersion() {
            return acceptedVersion;
        }

        public synchronized int responses() {
            return responses;
        }

        public synchronized int rejections() {
            return rejections;
        }

        public synchronized Optional<Throwable> failure() {
            return Optional.ofNullable(failure);
        }

        /** Waits until a response of {@code version} has been ACKed; false on timeout. */
        public synchronized boolean awaitAccepted(String version, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!acceptedVersion.equals(version)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }

        /** Waits until at least {@code count} responses have arrived; false on timeout. */
        public synchronized boolean awaitResponses(int count, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (responses < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }

        @Override
        public synchronized void close() {
            requests.onCompleted();
        }

        private final class Responses implements StreamObserver<DiscoveryResponse> {
            @Override
            public void onNext(DiscoveryResponse response) {
                Optional<String> rejection = judge.apply(response);
                Secret secret = null;
                if (rejection.isEmpty()) {
                    try {
                        secret = response.getResourcesCount() == 1
                                ? response.getResources(0).unpack(Secret.class) : null;
                    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                        rejection = Optional.of("cannot unpack secret: " + e.getMessage());
                    }
                    if (secret == null && rejection.isEmpty()) {
                        rejection = Optional.of("expected exactly one secret named " + name + ", got "
                                + response.getResourcesCount());
                    }
                }
                synchronized (Stream.this) {
                    DiscoveryRequest.Builder answer = DiscoveryRequest.newBuilder().addResourceNames(name)
                            .setTypeUrl(response.getTypeUrl()).setResponseNonce(response.getNonce());
                    if (rejection.isPresent()) {
                        rejections++;
                        answer.setVersionInfo(acceptedVersion).setErrorDetail(com.google.rpc.Status.newBuilder()
                                .setCode(3).setMessage(rejection.get()));
                    } else {
                        acceptedVersion = response.getVersionInfo();
                        answer.setVersionInfo(acceptedVersion);
                    }
                    if (secret != null && rejection.isEmpty()) {
                        lastSecret = secret;
                        accepted.accept(secret);
                    }
                    lastNonce = response.getNonce();
                    responses++;
                    requests.onNext(answer.build());
                    Stream.this.notifyAll();
                }
            }

            @Override
            public void onError(Throwable t) {
                synchronized (Stream.this) {
                    failure = t;
                    Stream.this.notifyAll();
                }
            }

            @Override
            public void onCompleted() {
                synchronized (Stream.this) {
                    Stream.this.notifyAll();
                }
            }
        }
    }
}
