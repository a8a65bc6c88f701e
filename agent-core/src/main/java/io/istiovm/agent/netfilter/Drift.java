package io.istiovm.agent.netfilter;

import java.util.ArrayList;
import java.util.List;

/** The difference between the desired and the actual agent rules: lines missing and lines not wanted. */
public record Drift(List<Line> lines) {

    /** One differing line: {@code missing} is true when the line is desired but absent. */
    public record Line(IpFamily family, String table, boolean missing, String text) {
        @Override
        public String toString() {
            return (missing ? "- " : "+ ") + family.label() + " " + table + ": " + text;
        }
    }

    public Drift {
        lines = List.copyOf(lines);
    }

    public boolean isEmpty() {
        return lines.isEmpty();
    }

    /** Compares one table's desired and actual normalised lines, in order. */
    static List<Line> compare(IpFamily family, String table, List<String> desired, List<String> actual) {
        List<Line> out = new ArrayList<>();
        if (desired.equals(actual)) {
            return out;
        }
        // A longest-common-subsequence diff, so that a moved rule shows up as one removal and one addition.
        int[][] lcs = new int[desired.size() + 1][actual.size() + 1];
        for (int i = desired.size() - 1; i >= 0; i--) {
            for (int j = actual.size() - 1; j >= 0; j--) {
                lcs[i][j] = desired.get(i).equals(actual.get(j)) ? lcs[i + 1][j + 1] + 1
                        : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        int i = 0;
        int j = 0;
        while (i < desired.size() || j < actual.size()) {
            if (i < desired.size() && j < actual.size() && desired.get(i).equals(actual.get(j))) {
                i++;
                j++;
            } else if (j == actual.size() || (i < desired.size() && lcs[i + 1][j] >= lcs[i][j + 1])) {
                out.add(new Line(family, table, true, desired.get(i++)));
            } else {
                out.add(new Line(family, table, false, actual.get(j++)));
            }
        }
        return out;
    }

    /**
     * Which chains the differences are in, e.g. {@code IPv4 nat ISTIO_OUTPUT, IPv4 nat OUTPUT}: with the lines, what
     * the log says about whoever rewrote the rules (netfilter does not record who).
     */
    public String chainsTouched() {
        java.util.Set<String> chains = new java.util.LinkedHashSet<>();
        for (Line line : lines) {
            String[] words = line.text().split(" ");
            String chain = words.length > 1 && (words[0].equals("-A") || words[0].startsWith(":"))
                    ? (words[0].equals("-A") ? words[1] : words[0].substring(1)) : line.text();
            chains.add(line.family().label() + " " + line.table() + " " + chain);
        }
        return String.join(", ", chains);
    }

    /** One line per difference: {@code - } desired but missing, {@code + } present but not desired. */
    public String describe() {
        StringBuilder out = new StringBuilder();
        lines.forEach(line -> out.append(line).append('\n'));
        return out.toString();
    }
}
