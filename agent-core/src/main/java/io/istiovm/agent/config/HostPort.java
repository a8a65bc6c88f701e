package io.istiovm.agent.config;

import java.util.Objects;

/** A {@code host:port} address; the host is a DNS name or an IP literal (IPv6 in brackets). */
public final class HostPort {
    private final String host;
    private final int port;

    public HostPort(String host, int port) {
        if (host == null || host.isEmpty()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " outside 1-65535");
        }
        this.host = host;
        this.port = port;
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostPort other && other.port == port && other.host.equals(host);
    }

    @Override
    public int hashCode() {
        return Objects.hash(host, port);
    }

    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
