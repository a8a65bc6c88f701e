package io.istiovm.agent.it;

import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigKeys;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The settings of a VM set up by the multi-network guide, split as README ("Configuration trust") tells users to
 * split them: the guide's {@code chown -R istio-proxy /var/lib/istio/envoy} hands cluster.env to Envoy's user, so
 * every key only root may set ({@link ConfigKey#raisesPrivileges}) goes to /etc/default/istio-vm-agent, the unit's
 * environment file, and the rest to cluster.env. A later value for a key replaces the earlier one in place.
 */
public final class GuideSettings {
    private final Map<String, String> settings = new LinkedHashMap<>();

    /** Adds each {@code KEY=value} line whose key {@code keep} accepts; comments and blank lines are skipped. */
    public GuideSettings putLines(Iterable<String> lines, Predicate<String> keep) {
        for (String line : lines) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.startsWith("#") && keep.test(line.substring(0, eq))) {
                put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return this;
    }

    public GuideSettings put(String key, String value) {
        settings.put(key, value);
        return this;
    }

    /** cluster.env: the keys Envoy's user may hold, after {@code header} (a comment line). */
    public String clusterEnv(String header) {
        return render(header, false);
    }

    /** /etc/default/istio-vm-agent: the keys only root may set, after {@code header}. */
    public String rootOnly(String header) {
        return render(header, true);
    }

    private String render(String header, boolean privileged) {
        StringBuilder text = new StringBuilder("# ").append(header).append('\n');
        settings.forEach((key, value) -> {
            if (ConfigKeys.byName(key).map(ConfigKey::raisesPrivileges).orElse(false) == privileged) {
                text.append(key).append('=').append(value).append('\n');
            }
        });
        return text.toString();
    }
}
