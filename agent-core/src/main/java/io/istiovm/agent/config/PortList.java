package io.istiovm.agent.config;

import java.util.List;
import java.util.Objects;

/** A list of TCP ports, or every port ({@code *}). An empty list means "none". */
public final class PortList {
    public static final PortList NONE = new PortList(false, List.of());
    public static final PortList ALL = new PortList(true, List.of());

    private final boolean all;
    private final List<Integer> ports;

    private PortList(boolean all, List<Integer> ports) {
        this.all = all;
        this.ports = List.copyOf(ports);
    }

    public static PortList of(List<Integer> ports) {
        for (int port : ports) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " outside 1-65535");
            }
        }
        return ports.isEmpty() ? NONE : new PortList(false, ports.stream().distinct().toList());
    }

    public boolean isAll() {
        return all;
    }

    public boolean isEmpty() {
        return !all && ports.isEmpty();
    }

    /** The listed ports in the order given, duplicates removed; empty for {@link #ALL}. */
    public List<Integer> ports() {
        return ports;
    }

    public boolean contains(int port) {
        return all || ports.contains(port);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PortList other && other.all == all && other.ports.equals(ports);
    }

    @Override
    public int hashCode() {
        return Objects.hash(all, ports);
    }

    @Override
    public String toString() {
        if (all) {
            return "*";
        }
        StringBuilder out = new StringBuilder();
        for (int port : ports) {
            if (out.length() > 0) {
                out.append(',');
            }
            out.append(port);
        }
        return out.toString();
    }
}
