package io.istiovm.agent.netfilter;

import java.util.ArrayList;
import java.util.List;

/**
 * Writes a rule's options in the order {@code iptables-save} prints them (addresses, interfaces, protocol,
 * matches, the ownership comment, target), so a planned rule reads back byte for byte.
 */
final class RuleBuilder {
    /** The comment that marks every rule as the agent's (no spaces, so iptables-save prints it unquoted). */
    static final String OWNER_COMMENT = "istio-vm-agent";

    private final String table;
    private final String chain;
    private String source = "";
    private String destination = "";
    private String inInterface = "";
    private String outInterface = "";
    private boolean tcp;
    private final List<String> matches = new ArrayList<>();

    private RuleBuilder(String table, String chain) {
        this.table = table;
        this.chain = chain;
    }

    static RuleBuilder in(String table, String chain) {
        return new RuleBuilder(table, chain);
    }

    RuleBuilder source(String cidr) {
        source = "-s " + cidr;
        return this;
    }

    RuleBuilder destination(String cidr) {
        destination = "-d " + cidr;
        return this;
    }

    RuleBuilder notDestination(String cidr) {
        destination = "! -d " + cidr;
        return this;
    }

    RuleBuilder inInterface(String name) {
        inInterface = "-i " + name;
        return this;
    }

    /** {@code -m mark --mark MARK}: the packet carries the TPROXY mark. */
    RuleBuilder packetMark(long mark) {
        matches.add("-m mark --mark 0x" + Long.toHexString(mark));
        return this;
    }

    /** {@code -m connmark --mark MARK}: the connection carries the TPROXY mark. */
    RuleBuilder connectionMark(long mark) {
        matches.add("-m connmark --mark 0x" + Long.toHexString(mark));
        return this;
    }

    /** {@code -m conntrack --ctstate RELATED,ESTABLISHED}: a packet of a connection that already exists. */
    RuleBuilder established() {
        matches.add("-m conntrack --ctstate RELATED,ESTABLISHED");
        return this;
    }

    RuleBuilder outInterface(String name) {
        outInterface = "-o " + name;
        return this;
    }

    RuleBuilder tcp() {
        tcp = true;
        return this;
    }

    RuleBuilder destinationPort(int port) {
        tcp = true;
        matches.add("-m tcp --dport " + port);
        return this;
    }

    RuleBuilder uidOwner(long uid, boolean negate) {
        matches.add("-m owner " + (negate ? "! " : "") + "--uid-owner " + uid);
        return this;
    }

    RuleBuilder gidOwner(long gid, boolean negate) {
        matches.add("-m owner " + (negate ? "! " : "") + "--gid-owner " + gid);
        return this;
    }

    Rule jump(String target) {
        List<String> parts = new ArrayList<>();
        for (String part : List.of(source, destination, inInterface, outInterface)) {
            if (!part.isEmpty()) {
                parts.add(part);
            }
        }
        if (tcp) {
            parts.add("-p tcp");
        }
        parts.addAll(matches);
        parts.add("-m comment --comment " + OWNER_COMMENT);
        parts.add("-j " + target);
        return new Rule(table, chain, String.join(" ", parts));
    }
}
