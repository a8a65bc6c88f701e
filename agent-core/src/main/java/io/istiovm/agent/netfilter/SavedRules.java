package io.istiovm.agent.netfilter;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The part of an {@code iptables-save} dump that the agent owns: its chains (by name), every rule in them, and
 * every rule elsewhere that jumps into them or carries the agent's comment. Parsing is pure, so the same code
 * reads the live system and test fixtures.
 */
public record SavedRules(IpFamily family, List<CaptureRules.OwnedChain> chains, List<Rule> rules,
                         List<Rule> foreignReferences) {
    private static final List<String> BUILT_IN_ORDER = List.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT",
            "POSTROUTING");

    public SavedRules {
        chains = List.copyOf(chains);
        rules = List.copyOf(rules);
        foreignReferences = List.copyOf(foreignReferences);
    }

    public static SavedRules parse(IpFamily family, String save) {
        List<CaptureRules.OwnedChain> chains = new ArrayList<>();
        List<Rule> rules = new ArrayList<>();
        List<Rule> foreign = new ArrayList<>();
        String table = null;
        for (String raw : save.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#") || line.equals("COMMIT")) {
                continue;
            }
            if (line.startsWith("*")) {
                table = line.substring(1);
            } else if (line.startsWith(":") && table != null) {
                String name = line.substring(1).split("\\s+")[0];
                if (CapturePlanner.OWNED_CHAIN_NAMES.contains(name)) {
                    chains.add(new CaptureRules.OwnedChain(table, name));
                }
            } else if (line.startsWith("-A ") && table != null) {
                String[] parts = line.split("\\s+", 3);
                Rule rule = new Rule(table, parts[1], parts.length > 2 ? parts[2] : "");
                boolean inOwnedChain = CapturePlanner.OWNED_CHAIN_NAMES.contains(rule.chain());
                boolean jumpsIn = CapturePlanner.OWNED_CHAIN_NAMES.contains(rule.target());
                boolean marked = (" " + rule.spec() + " ").contains(" --comment " + RuleBuilder.OWNER_COMMENT + " ")
                        || rule.spec().contains("--comment \"" + RuleBuilder.OWNER_COMMENT + "\"");
                if (inOwnedChain || (rule.inBuiltInChain() && (jumpsIn || marked))) {
                    rules.add(rule);
                } else if (jumpsIn) {
                    foreign.add(rule);
                }
            }
        }
        return new SavedRules(family, chains, rules, foreign);
    }

    public boolean isEmpty() {
        return chains.isEmpty() && rules.isEmpty();
    }

    /** The same state as desired rules, so a previous state can be put back exactly. */
    public CaptureRules asCaptureRules() {
        return new CaptureRules(family, chains, rules);
    }

    public Map<String, List<String>> saveLines() {
        Map<String, List<String>> byTable = new LinkedHashMap<>();
        Set<String> tables = new TreeSet<>();
        chains.forEach(c -> tables.add(c.table()));
        rules.forEach(r -> tables.add(r.table()));
        for (String table : tables) {
            byTable.put(table, normalise(chains.stream().filter(c -> c.table().equals(table))
                            .map(CaptureRules.OwnedChain::name).toList(),
                    rules.stream().filter(r -> r.table().equals(table)).toList()));
        }
        return byTable;
    }

    /**
     * One table's state as comparable lines: chain names sorted, then rules grouped by chain (built-in chains in
     * kernel order, then owned chains by name), keeping the order within each chain, which is what matters.
     */
    static List<String> normalise(List<String> chainNames, List<Rule> rules) {
        List<String> lines = new ArrayList<>();
        chainNames.stream().sorted().distinct().map(name -> ":" + name).forEach(lines::add);
        Set<String> chainOrder = new LinkedHashSet<>();
        BUILT_IN_ORDER.forEach(chainOrder::add);
        rules.stream().map(Rule::chain).filter(c -> !Rule.BUILT_IN_CHAINS.contains(c)).sorted()
                .forEach(chainOrder::add);
        List<String> order = List.copyOf(chainOrder);
        rules.stream().sorted(Comparator.comparingInt(r -> order.indexOf(r.chain())))
                .map(Rule::saveLine).forEach(lines::add);
        return lines;
    }
}
