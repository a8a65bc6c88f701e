package io.istiovm.agent.ca;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which CA endpoint last issued a certificate, for the life of the process (in memory only: after a restart the
 * first renewal tries the candidates in their configured order again, which costs one failed call at most). It
 * outlives configuration reloads (the assembly holds one), so that a reload does not make the agent probe again;
 * a reload that changes the candidates simply finds the remembered endpoint is not among them.
 *
 * <p>The choice is logged once, when first made, and again whenever it changes.
 */
public final class CaChoice {
    private static final Logger LOG = LoggerFactory.getLogger(CaChoice.class);

    private CaEndpoint chosen;

    /** The remembered endpoint, if it is one of {@code endpoints}. */
    public synchronized Optional<CaEndpoint> chosen(CaEndpoints endpoints) {
        return Optional.ofNullable(chosen).flatMap(c -> endpoints.candidates().stream()
                .filter(c::sameServiceAs).findFirst());
    }

    /** The order to try {@code endpoints} in: the remembered one first, then the others in configured order. */
    public synchronized List<CaEndpoint> order(CaEndpoints endpoints) {
        List<CaEndpoint> ordered = new ArrayList<>(endpoints.candidates());
        chosen(endpoints).ifPresent(remembered -> {
            ordered.remove(remembered);
            ordered.add(0, remembered);
        });
        return ordered;
    }

    /**
     * {@code endpoint} issued a certificate: it is the one to try first from now on. {@code passedOver} says why
     * the endpoints tried before it were not used (empty when it was the first tried).
     */
    public synchronized void issuedBy(CaEndpoints endpoints, CaEndpoint endpoint, List<String> passedOver) {
        if (chosen != null && chosen.sameServiceAs(endpoint)) {
            return;
        }
        String how = endpoints.automatic() ? "chosen automatically (set VM_AGENT_CA_PROTOCOL to force one)"
                : "forced by VM_AGENT_CA_PROTOCOL";
        String why = passedOver.isEmpty() ? "" : "; passed over: " + String.join("; ", passedOver);
        if (chosen == null) {
            LOG.info("CA protocol: {}, {}{}", endpoint, how, why);
        } else {
            LOG.warn("CA protocol changed from {} to {}, {}{}", chosen, endpoint, how, why);
        }
        chosen = endpoint;
    }
}
