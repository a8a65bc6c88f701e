package io.istiovm.agent.sds;

import java.util.List;
import java.util.Optional;

/**
 * A snapshot of one SDS stream as the server sees it: which secrets Envoy asked for, the version it last ACKed
 * and, if the last answer was a NACK, Envoy's error detail.
 */
public record SdsStreamState(long id, List<String> resourceNames, Optional<String> ackedVersion,
                             Optional<String> lastRejection) {
    public SdsStreamState {
        resourceNames = List.copyOf(resourceNames);
    }
}
