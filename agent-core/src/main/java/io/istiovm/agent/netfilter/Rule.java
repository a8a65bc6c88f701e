package io.istiovm.agent.netfilter;

import java.util.Objects;
import java.util.Set;

/**
 * One netfilter rule of the agent: the table and chain it lives in and its specification, written exactly as
 * {@code iptables-save} prints it, so that desired and actual rules compare as text.
 */
public record Rule(String table, String chain, String spec) {
    /** Chains the kernel defines; the agent adds only jump rules to them, never owns them. */
    public static final Set<String> BUILT_IN_CHAINS = Set.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT",
            "POSTROUTING");

    public Rule {
        Objects.requireNonNull(table, "table");
        Objects.requireNonNull(chain, "chain");
        // An empty spec is legal: iptables-save prints "-A CHAIN" for a rule without matches or target.
        if (spec == null || spec.contains("\n")) {
            throw new IllegalArgumentException("rule spec must be one line: " + spec);
        }
        spec = spec.trim().replaceAll("\\s+", " ");
    }

    public boolean inBuiltInChain() {
        return BUILT_IN_CHAINS.contains(chain);
    }

    /** The rule as an {@code iptables-save} line: {@code -A CHAIN SPEC}. */
    public String saveLine() {
        return spec.isEmpty() ? "-A " + chain : "-A " + chain + " " + spec;
    }

    /** The target chain or extension after {@code -j}, or empty when there is none. */
    public String target() {
        int at = (" " + spec).lastIndexOf(" -j ");
        if (at < 0) {
            return "";
        }
        String rest = spec.substring(at + 3).trim();
        int space = rest.indexOf(' ');
        return space < 0 ? rest : rest.substring(0, space);
    }

    @Override
    public String toString() {
        return "*" + table + " " + saveLine();
    }
}
