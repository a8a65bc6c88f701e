package io.istiovm.agent.config;

import java.util.Objects;

/**
 * One thing wrong with the configuration, located precisely enough to fix it without guessing:
 * the file and line (or the environment), the key, the offending value, and why.
 */
public record ConfigProblem(Severity severity, Source source, String key, String rawValue, String reason) {

    public ConfigProblem {
        Objects.requireNonNull(severity, "severity");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(reason, "reason");
    }

    public static ConfigProblem error(Source source, String key, String rawValue, String reason) {
        return new ConfigProblem(Severity.ERROR, source, key, rawValue, reason);
    }

    public static ConfigProblem warning(Source source, String key, String rawValue, String reason) {
        return new ConfigProblem(Severity.WARNING, source, key, rawValue, reason);
    }

    public boolean isError() {
        return severity == Severity.ERROR;
    }

    /**
     * {@code error: /var/lib/istio/envoy/cluster.env:3: ENVOY_PORT='0': port 0 is out of range (1-65535)}; never a
     * raw control character (a path or a reason may carry one), see {@link VisibleText}.
     */
    public String render() {
        StringBuilder out = new StringBuilder(severity.label()).append(": ").append(source.location()).append(": ");
        if (key != null) {
            out.append(key);
            if (rawValue != null) {
                out.append('=').append(ShellQuoting.quote(rawValue));
            }
            out.append(": ");
        }
        return VisibleText.escape(out.append(reason).toString());
    }

    @Override
    public String toString() {
        return render();
    }
}
