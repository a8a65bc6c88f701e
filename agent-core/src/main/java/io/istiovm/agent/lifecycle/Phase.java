package io.istiovm.agent.lifecycle;

/** Where a component stands. */
public enum Phase {
    /** Prepared or started, not yet holding its desired state (Envoy not LIVE yet, capture waiting for Envoy). */
    STARTING,
    /** The desired state holds. */
    READY,
    /** It works, with a problem that needs attention (a renewal failing while the certificate is still valid). */
    DEGRADED,
    /** The desired state does not hold (no valid identity, rules that cannot be applied). */
    FAILED,
    /** Stopped, or never started. */
    STOPPED;

    /** True when the component does its job: READY, or DEGRADED. */
    public boolean serving() {
        return this == READY || this == DEGRADED;
    }
}
