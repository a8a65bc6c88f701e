package io.istiovm.agent.netfilter;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The {@code iptables-restore --noflush} transaction that turns the agent's current state into the desired one
 * and touches nothing else: declaring a chain flushes it, the old jumps are deleted by their exact text, chains
 * no longer wanted are removed, then the desired rules are written.
 */
public final class RestoreScript {
    private RestoreScript() {
    }

    /** How many tables a script changes (its {@code *table} lines), each committed on its own. */
    static long tables(String script) {
        return script.lines().filter(line -> line.startsWith("*")).count();
    }

    /** The script, or the empty string when neither state has anything (nothing to run). */
    public static String replace(SavedRules current, CaptureRules desired) {
        Set<String> tables = new TreeSet<>(desired.tables());
        current.chains().forEach(c -> tables.add(c.table()));
        current.rules().forEach(r -> tables.add(r.table()));
        StringBuilder out = new StringBuilder();
        for (String table : tables) {
            out.append('*').append(table).append('\n');
            Set<String> declared = new LinkedHashSet<>();
            current.chains().stream().filter(c -> c.table().equals(table)).forEach(c -> declared.add(c.name()));
            desired.chains().stream().filter(c -> c.table().equals(table)).forEach(c -> declared.add(c.name()));
            for (String chain : declared) {
                out.append(':').append(chain).append(" - [0:0]\n");
            }
            for (Rule rule : current.rules()) {
                if (rule.table().equals(table) && !CapturePlanner.OWNED_CHAIN_NAMES.contains(rule.chain())) {
                    out.append("-D ").append(rule.chain()).append(' ').append(rule.spec()).append('\n');
                }
            }
            List<String> wanted = new ArrayList<>();
            desired.chains().stream().filter(c -> c.table().equals(table)).forEach(c -> wanted.add(c.name()));
            for (String chain : declared) {
                if (!wanted.contains(chain)) {
                    out.append("-X ").append(chain).append('\n');
                }
            }
            desired.appendRules(out, table);
            out.append("COMMIT\n");
        }
        return out.toString();
    }
}
