package io.istiovm.agent.it.logging;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/** Logs one line at each level through the agent jar's backend, for {@link JournaldIT}. */
public final class JournalLines {
    private JournalLines() {
    }

    public static void main(String[] args) {
        Logger log = LoggerFactory.getLogger("io.istiovm.agent.ca.Rotator");
        MDC.put("COMPONENT", "identity");
        log.atInfo().addKeyValue("CERT_SERIAL", "1f2e").addKeyValue("SPIFFE_ID", JournaldIT.SPIFFE_ID)
                .log("identity rotated");
        log.warn(JournaldIT.MULTI_LINE);
        log.error("renewal failed", new IllegalStateException("boom"));
        log.debug("below the level");
    }
}
