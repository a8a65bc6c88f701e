package io.istiovm.agent.sds;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.PeerCredentials;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first handler of the listening socket's pipeline: it sees each accepted connection before gRPC does
 * (before netty's acceptor registers it), reads the peer's credentials the kernel recorded at connect
 * (SO_PEERCRED), and closes every connection whose uid is not Envoy's or root's, so that a refused process gets
 * not one byte from the server (not even HTTP/2 settings). The socket's mode and group keep other users out;
 * this keeps out the other members of Envoy's group, which is often shared.
 */
@ChannelHandler.Sharable
final class PeerCredentialsCheck extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(PeerCredentialsCheck.class);
    /** The refusals kept for status output; older ones are only in the log. */
    private static final int KEPT_REFUSALS = 32;

    private volatile Set<Integer> servedUids;
    private final Deque<SdsPeer> refused = new ArrayDeque<>();

    PeerCredentialsCheck(int envoyUid) {
        serve(envoyUid);
    }

    /** From now on, serves {@code envoyUid} and root. */
    void serve(int envoyUid) {
        servedUids = Set.of(0, envoyUid);
    }

    synchronized List<SdsPeer> refused() {
        return List.copyOf(refused);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof Channel child)) {
            ctx.fireChannelRead(msg);
            return;
        }
        SdsPeer peer = null;
        if (child instanceof EpollDomainSocketChannel domain) {
            try {
                PeerCredentials credentials = domain.peerCredentials();
                int[] gids = credentials.gids();
                peer = new SdsPeer(credentials.uid(), gids.length > 0 ? gids[0] : -1, credentials.pid());
            } catch (IOException e) {
                LOG.warn("SDS: refused a connection whose credentials cannot be read: {}", e.getMessage());
            }
        }
        if (peer != null && servedUids.contains(peer.uid())) {
            ctx.fireChannelRead(msg);
            return;
        }
        child.unsafe().closeForcibly();
        if (peer != null) {
            record(peer);
            LOG.warn("SDS: refused a connection from {}: only uids {} are served", peer, servedUids);
        }
    }

    private synchronized void record(SdsPeer peer) {
        if (refused.size() == KEPT_REFUSALS) {
            refused.removeFirst();
        }
        refused.addLast(peer);
    }
}
