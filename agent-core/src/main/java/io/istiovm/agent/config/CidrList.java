package io.istiovm.agent.config;

import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/** A list of networks, or every destination ({@code *}). An empty list means "none". */
public final class CidrList {
    public static final CidrList NONE = new CidrList(false, List.of());
    public static final CidrList ALL = new CidrList(true, List.of());

    private final boolean all;
    private final List<Cidr> cidrs;

    private CidrList(boolean all, List<Cidr> cidrs) {
        this.all = all;
        this.cidrs = List.copyOf(cidrs);
    }

    public static CidrList of(List<Cidr> cidrs) {
        return cidrs.isEmpty() ? NONE : new CidrList(false, cidrs.stream().distinct().toList());
    }

    public boolean isAll() {
        return all;
    }

    public boolean isEmpty() {
        return !all && cidrs.isEmpty();
    }

    /** The listed networks (both families), duplicates removed; empty for {@link #ALL}. */
    public List<Cidr> cidrs() {
        return cidrs;
    }

    public List<Cidr> ipv4() {
        return cidrs.stream().filter(c -> !c.isIpv6()).toList();
    }

    public List<Cidr> ipv6() {
        return cidrs.stream().filter(Cidr::isIpv6).toList();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CidrList other && other.all == all && other.cidrs.equals(cidrs);
    }

    @Override
    public int hashCode() {
        return Objects.hash(all, cidrs);
    }

    @Override
    public String toString() {
        return all ? "*" : cidrs.stream().map(Cidr::toString).collect(Collectors.joining(","));
    }
}
