package io.istiovm.agent.config;

import java.util.Optional;

/** Finds the known key an unknown name most likely meant. */
final class KeySuggestions {
    private KeySuggestions() {
    }

    static Optional<String> suggest(String unknown) {
        for (ConfigKey<?> key : ConfigKeys.all()) {
            if (key.misspellings().contains(unknown)) {
                return Optional.of(key.name());
            }
        }
        String upper = unknown.toUpperCase(java.util.Locale.ROOT);
        if (!upper.equals(unknown) && ConfigKeys.isKnown(upper)) {
            return Optional.of(upper);
        }
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (ConfigKey<?> key : ConfigKeys.all()) {
            int distance = distance(upper, key.name());
            if (distance < bestDistance) {
                bestDistance = distance;
                best = key.name();
            }
        }
        // A third of the name may be wrong before a suggestion stops being helpful.
        int allowed = Math.max(2, unknown.length() / 3);
        return bestDistance <= allowed ? Optional.ofNullable(best) : Optional.empty();
    }

    /** Optimal string alignment distance: Levenshtein plus transposition of neighbours. */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
