package io.istiovm.agent.netfilter;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The agent's desired netfilter state for one address family: the chains it owns and every rule it installs,
 * jumps from the built-in chains included. Pure data; {@link #render()} prints it in {@code iptables-restore}
 * format.
 */
public record CaptureRules(IpFamily family, List<OwnedChain> chains, List<Rule> rules) {

    /** A chain the agent creates and owns entirely. */
    public record OwnedChain(String table, String name) {
        public OwnedChain {
            Objects.requireNonNull(table, "table");
            if (!CapturePlanner.OWNED_CHAIN_NAMES.contains(name)) {
                throw new IllegalArgumentException("not an agent chain: " + name);
            }
        }
    }

    public CaptureRules {
        Objects.requireNonNull(family, "family");
        chains = List.copyOf(chains);
        rules = List.copyOf(rules);
        Set<OwnedChain> declared = new LinkedHashSet<>(chains);
        for (Rule rule : rules) {
            if (!rule.inBuiltInChain() && !declared.contains(new OwnedChain(rule.table(), rule.chain()))) {
                throw new IllegalArgumentException("rule in an undeclared chain: " + rule);
            }
        }
    }

    public static CaptureRules none(IpFamily family) {
        return new CaptureRules(family, List.of(), List.of());
    }

    public boolean isEmpty() {
        return chains.isEmpty() && rules.isEmpty();
    }

    /** Tables that hold something, in the order iptables-save prints them. */
    public List<String> tables() {
        Set<String> tables = new TreeSet<>();
        chains.forEach(c -> tables.add(c.table()));
        rules.forEach(r -> tables.add(r.table()));
        return List.copyOf(tables);
    }

    /** The state as normalised {@code iptables-save} lines per table (see {@link SavedRules#normalise}). */
    public Map<String, List<String>> saveLines() {
        Map<String, List<String>> byTable = new LinkedHashMap<>();
        for (String table : tables()) {
            byTable.put(table, SavedRules.normalise(
                    chains.stream().filter(c -> c.table().equals(table)).map(OwnedChain::name).toList(),
                    rules.stream().filter(r -> r.table().equals(table)).toList()));
        }
        return byTable;
    }

    /**
     * The {@code iptables-restore --noflush} text that creates this state on a host with none of the agent's
     * rules: jumps go first in their built-in chain so that rules other software appends (Docker, firewalld)
     * cannot bypass them.
     */
    public String render() {
        StringBuilder out = new StringBuilder();
        for (String table : tables()) {
            out.append('*').append(table).append('\n');
            appendBody(out, table);
            out.append("COMMIT\n");
        }
        return out.toString();
    }

    /** Chain declarations and rules of {@code table}, without the table header and COMMIT. */
    void appendDeclarations(StringBuilder out, String table) {
        chains.stream().filter(c -> c.table().equals(table))
                .forEach(c -> out.append(':').append(c.name()).append(" - [0:0]\n"));
    }

    /** Jumps from built-in chains first (inserted at the top), then each owned chain's rules in order. */
    void appendRules(StringBuilder out, String table) {
        Map<String, Integer> position = new LinkedHashMap<>();
        for (Rule rule : rules) {
            if (rule.table().equals(table) && rule.inBuiltInChain()) {
                int at = position.merge(rule.chain(), 1, Integer::sum);
                out.append("-I ").append(rule.chain()).append(' ').append(at).append(' ').append(rule.spec())
                        .append('\n');
            }
        }
        for (OwnedChain chain : chains) {
            if (!chain.table().equals(table)) {
                continue;
            }
            for (Rule rule : rules) {
                if (rule.table().equals(table) && rule.chain().equals(chain.name())) {
                    out.append(rule.saveLine()).append('\n');
                }
            }
        }
    }

    private void appendBody(StringBuilder out, String table) {
        appendDeclarations(out, table);
        appendRules(out, table);
    }
}
