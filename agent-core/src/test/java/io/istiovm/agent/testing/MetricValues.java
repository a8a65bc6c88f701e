package io.istiovm.agent.testing;

import io.istiovm.agent.metrics.AgentMetrics;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads a series' value out of an {@link AgentMetrics}' text exposition, as a scrape would see it. */
public final class MetricValues {
    private MetricValues() {
    }

    /** The value of {@code series} (name without the prefix, with labels as exposed), or -1 when it is absent. */
    public static double of(AgentMetrics metrics, String series) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(out, metrics.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(AgentMetrics.PREFIX + series) + " (\\S+)$")
                .matcher(out.toString(StandardCharsets.UTF_8));
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }
}
