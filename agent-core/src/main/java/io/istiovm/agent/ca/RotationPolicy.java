package io.istiovm.agent.ca;

import java.time.Duration;
import java.time.Instant;

/**
 * When to rotate and how long to wait after a failure; pure arithmetic, with the randomness passed in so that
 * tests can pin it.
 *
 * <p>Rotation starts when {@code graceRatio ± jitter} of the lifetime is left (Istio's SECRET_GRACE_PERIOD_RATIO,
 * spread so that hundreds of VMs do not renew in the same second), and no later than {@code minRemaining} before
 * expiry (SPIRE's availability target: the time an operator has to fix a CA outage). The target is not applied
 * to certificates living less than twice as long, or it would renew them almost at once, again and again.
 */
public record RotationPolicy(double graceRatio, double jitter, Duration minRemaining, Duration initialBackoff,
                             Duration maxBackoff) {
    /** Fraction by which each backoff is shortened at random, so that failed VMs do not retry in lockstep. */
    static final double BACKOFF_JITTER = 0.2;

    public RotationPolicy {
        if (graceRatio < 0 || graceRatio > 1 || jitter < 0 || jitter > 1) {
            throw new IllegalArgumentException("grace ratio and jitter are between 0 and 1");
        }
        if (minRemaining.isNegative() || initialBackoff.isNegative() || initialBackoff.isZero()
                || maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalArgumentException("durations must be positive and the cap at least the initial backoff");
        }
    }

    /** The first wait after a failure: short, since most failures are a CA restarting or a network blip. */
    public static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);

    /** The rotation instant of a certificate valid from {@code notBefore} to {@code notAfter}; random in [0,1). */
    public Instant rotateAt(Instant notBefore, Instant notAfter, double random) {
        Duration lifetime = Duration.between(notBefore, notAfter);
        double ratio = Math.min(1, Math.max(0, graceRatio + jitter * (2 * random - 1)));
        Instant at = notAfter.minusNanos((long) (lifetime.toNanos() * ratio));
        if (!minRemaining.isZero() && lifetime.compareTo(minRemaining.multipliedBy(2)) >= 0) {
            Instant target = notAfter.minus(minRemaining);
            if (target.isBefore(at)) {
                at = target;
            }
        }
        return at;
    }

    /**
     * The least time between two successful rotations: a minute, or a tenth of the lifetime of a certificate
     * living less than ten minutes. Without it, a CA answering with certificates whose rotation instant has passed
     * already (a TTL shorter than asked, a clock ahead) would be called again at once, back to back, forever.
     */
    static final Duration MIN_ROTATION_INTERVAL = Duration.ofMinutes(1);

    /**
     * When to rotate a certificate just renewed at {@code now}, rotating at {@code due}: not before the
     * {@link #MIN_ROTATION_INTERVAL floor}.
     */
    public Instant afterRenewal(Instant due, Instant notBefore, Instant notAfter, Instant now) {
        Duration tenth = Duration.between(notBefore, notAfter).dividedBy(10);
        Instant earliest = now.plus(tenth.compareTo(MIN_ROTATION_INTERVAL) < 0 ? tenth : MIN_ROTATION_INTERVAL);
        return due.isBefore(earliest) ? earliest : due;
    }

    /** Earliest and latest rotation instants over all jitter values. */
    public Instant[] rotationWindow(Instant notBefore, Instant notAfter) {
        return new Instant[] {rotateAt(notBefore, notAfter, 1.0), rotateAt(notBefore, notAfter, 0.0)};
    }

    /** A {@link #rotationWindow} as the daemon's plan and {@code certs show} print it. */
    public static String describeWindow(Instant[] window) {
        return "between " + window[0] + " and " + window[1];
    }

    /** Wait after the {@code failures}-th consecutive failure (1-based): doubling from the initial, capped. */
    public Duration backoff(int failures, double random) {
        if (failures < 1) {
            throw new IllegalArgumentException("backoff follows at least one failure");
        }
        long cap = maxBackoff.toNanos();
        long base = initialBackoff.toNanos();
        int shift = Math.min(failures - 1, 62);
        long exponential = base > (cap >> shift) ? cap : Math.min(cap, base << shift);
        return Duration.ofNanos((long) (exponential * (1 - BACKOFF_JITTER * random)));
    }

    /** How loudly to report a failure to renew, by how much of the lifetime is left. */
    public Urgency urgency(Instant notBefore, Instant notAfter, Instant now) {
        if (!now.isBefore(notAfter)) {
            return Urgency.EXPIRED;
        }
        double left = (double) Duration.between(now, notAfter).toNanos()
                / Duration.between(notBefore, notAfter).toNanos();
        return left <= CRITICAL_FRACTION ? Urgency.CRITICAL : Urgency.WARNING;
    }

    /** Below this fraction of the lifetime left, failures are errors rather than warnings. */
    static final double CRITICAL_FRACTION = 0.2;

    public enum Urgency {
        /** Renewal failed but most of the grace period is left. */
        WARNING,
        /** Little of the lifetime is left: the workload is about to lose its identity. */
        CRITICAL,
        /** The certificate has expired: peers refuse this workload until renewal succeeds. */
        EXPIRED
    }
}
