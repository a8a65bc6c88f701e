package io.istiovm.agent.hosts;

import io.istiovm.agent.config.Source;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Locale;
import java.util.Objects;

/**
 * One name the agent maps to one address, and where that mapping came from.
 *
 * @param name    the host name, lower-cased (resolvers compare names case-insensitively)
 * @param address the address the name resolves to
 * @param source  the file and line (or configuration key) that asked for it; two entries with the same source
 *                never conflict with each other (one ServiceEntry may give a host several addresses)
 * @param origin  a short description for the block's comments, e.g. {@code ServiceEntry bar/httpbin (se.yaml:1)};
 *                printable ASCII only, so that a comment can never end its line or carry a control character
 */
public record HostsEntry(String name, InetAddress address, Source source, String origin) {
    public HostsEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(origin, "origin");
        HostsNames.requireHostName(name);
        HostsNames.requireComment(origin);
        name = name.toLowerCase(Locale.ROOT);
    }

    /** A name may have one IPv4 and one IPv6 address; only two of the same family conflict. */
    boolean sameFamily(InetAddress other) {
        return (address instanceof Inet6Address) == (other instanceof Inet6Address);
    }
}
