package io.istiovm.agent.testing;

import io.istiovm.agent.config.IpAddresses;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * Where a TCP connection was addressed before netfilter redirected it, read as Envoy's original_dst listener
 * filter reads it ({@code getsockopt(SO_ORIGINAL_DST)}); for a connection that was not redirected, its own local
 * address. Shared by every stand-in for Envoy's capture listeners.
 */
public final class OriginalDestination {
    private OriginalDestination() {
    }

    /** {@code ip:port} ({@code [ip]:port} for IPv6) of the accepted socket {@code fd}, or {@code -} if unknown. */
    public static String of(int fd, boolean ipv6) {
        return redirected(fd, ipv6).orElseGet(() -> {
            byte[] buffer = new byte[ipv6 ? 28 : 16];
            int[] length = {buffer.length};
            return Libc.INSTANCE.getsockname(fd, buffer, length) == 0 ? format(buffer, ipv6) : "-";
        });
    }

    /**
     * The address netfilter recorded before a REDIRECT, if it did. For an IPv4 connection on a dual-stack
     * (AF_INET6) socket, as netty's epoll transport opens them, ask with {@code ipv6=false}: the record is IPv4.
     */
    public static Optional<String> redirected(int fd, boolean ipv6) {
        byte[] buffer = new byte[ipv6 ? 28 : 16];
        int[] length = {buffer.length};
        int level = ipv6 ? Libc.SOL_IPV6 : Libc.SOL_IP;
        if (Libc.INSTANCE.getsockopt(fd, level, Libc.SO_ORIGINAL_DST, buffer, length) != 0) {
            return Optional.empty();
        }
        return Optional.of(format(buffer, ipv6));
    }

    /** A {@code struct sockaddr_in} / {@code sockaddr_in6} as {@code ip:port} ({@code [ip]:port}). */
    static String format(byte[] buffer, boolean ipv6) {
        // struct sockaddr_in / sockaddr_in6: family, port (network order), then the address.
        int port = ((buffer[2] & 0xff) << 8) | (buffer[3] & 0xff);
        try {
            if (ipv6) {
                byte[] ip = new byte[16];
                System.arraycopy(buffer, 8, ip, 0, 16);
                return "[" + IpAddresses.format(InetAddress.getByAddress(ip)) + "]:" + port;
            }
            byte[] ip = new byte[4];
            System.arraycopy(buffer, 4, ip, 0, 4);
            return InetAddress.getByAddress(ip).getHostAddress() + ":" + port;
        } catch (UnknownHostException e) {
            return "?";
        }
    }
}
