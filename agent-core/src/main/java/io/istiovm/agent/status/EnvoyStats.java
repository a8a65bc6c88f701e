package io.istiovm.agent.status;

import java.util.Optional;

/**
 * Envoy's own {@code /stats/prometheus} (text format 0.0.4), fetched for the merged endpoint; empty when Envoy
 * does not answer (not started, restarting, hung). The fetch is bounded in time and size by its implementation
 * (the assembly's, over Envoy's admin API).
 */
@FunctionalInterface
public interface EnvoyStats {
    Optional<String> prometheus();

    /** No Envoy to ask ({@code hosts watch}, tests). */
    EnvoyStats NONE = Optional::empty;
}
