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

    RuleBuilder hasLocalSocket() {
        matches.add("-m socket");
        return this;
    }

    Rule jump(String target) {
        List<String> parts = new ArrayList<>();
        for (String part : List.of(source, destination, outInterface)) {
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
