package io.istiovm.agent.ca;

import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * The CA endpoints a renewal may use, in the order they are tried when none has answered yet: one, forced by
 * VM_AGENT_CA_PROTOCOL, or (automatic, the default) istiod's CreateCertificate at CA_ADDR first and Citadel's
 * HandleCSR at CITADEL_ADDRESS second. Automatic selection exists for the multi-network guide's Istio 1.4/1.5
 * transition, where only Citadel (istio-citadel:8060) signs and the guide's cluster.env names no protocol.
 */
public record CaEndpoints(List<CaEndpoint> candidates, boolean automatic) {

    public CaEndpoints {
        candidates = List.copyOf(candidates);
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("at least one CA endpoint is needed");
        }
        if (!automatic && candidates.size() != 1) {
            throw new IllegalArgumentException("a forced CA protocol has exactly one endpoint: " + candidates);
        }
        if (candidates.stream().map(CaEndpoint::protocol).distinct().count() != candidates.size()) {
            throw new IllegalArgumentException("one endpoint per CA protocol: " + candidates);
        }
    }

    /** Only {@code endpoint}, whatever happens (VM_AGENT_CA_PROTOCOL=CreateCertificate or HandleCSR). */
    public static CaEndpoints forced(CaEndpoint endpoint) {
        return new CaEndpoints(List.of(Objects.requireNonNull(endpoint, "endpoint")), false);
    }

    /** {@code first}, and {@code fallback} when {@code first} is unreachable or does not implement its protocol. */
    public static CaEndpoints automatic(CaEndpoint first, CaEndpoint fallback) {
        return new CaEndpoints(List.of(first, fallback), true);
    }

    /** The endpoint tried first when none has answered yet. */
    public CaEndpoint first() {
        return candidates.get(0);
    }

    @Override
    public String toString() {
        if (!automatic) {
            return first().toString();
        }
        return candidates.stream().map(CaEndpoint::toString).collect(Collectors.joining(", else "))
                + " (chosen automatically: VM_AGENT_CA_PROTOCOL=auto)";
    }
}
