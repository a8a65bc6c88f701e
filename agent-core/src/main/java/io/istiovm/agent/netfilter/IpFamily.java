package io.istiovm.agent.netfilter;

/** The two netfilter address families; each has its own tools, tables and special addresses. */
public enum IpFamily {
    IPV4("IPv4", "iptables", "127.0.0.1/32", "127.0.0.6/32", "0.0.0.0"),
    IPV6("IPv6", "ip6tables", "::1/128", "::6/128", "::");

    private final String label;
    private final String toolPrefix;
    private final String localhost;
    private final String inboundPassthroughSource;
    private final String anyAddress;

    IpFamily(String label, String toolPrefix, String localhost, String inboundPassthroughSource, String anyAddress) {
        this.label = label;
        this.toolPrefix = toolPrefix;
        this.localhost = localhost;
        this.inboundPassthroughSource = inboundPassthroughSource;
        this.anyAddress = anyAddress;
    }

    public String label() {
        return label;
    }

    /** {@code iptables} or {@code ip6tables}: the first part of every tool's name. */
    public String toolPrefix() {
        return toolPrefix;
    }

    /** The loopback host route as iptables-save prints it. */
    public String localhost() {
        return localhost;
    }

    /** Source address Envoy uses to pass inbound traffic through to the application (127.0.0.6 / ::6). */
    public String inboundPassthroughSource() {
        return inboundPassthroughSource;
    }

    public String anyAddress() {
        return anyAddress;
    }
}
