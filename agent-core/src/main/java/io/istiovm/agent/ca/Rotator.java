package io.istiovm.agent.ca;

import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.ValueTypes;
import io.istiovm.agent.metrics.AgentMetrics;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rotation state machine. {@link #tick()} does whatever is due at the clock's current instant (nothing, one
 * renewal attempt) and returns when it next wants to run; it never sleeps, so tests drive it with a fixed or
 * stepped clock, and the daemon's loop ({@link IdentityComponent}) runs it again at that instant.
 *
 * <p>After a failure it retries with capped exponential backoff and never gives up; the current identity stays
 * published meanwhile, and the log gets louder (warning, then error, then "expired") as expiry nears.
 */
public final class Rotator {
    private static final Logger LOG = LoggerFactory.getLogger(Rotator.class);

    /** One renewal: returns the new identity, already written to disk. */
    @FunctionalInterface
    public interface Action {
        WorkloadIdentity renew(Optional<WorkloadIdentity> current) throws Exception;
    }

    /** What the rotator is waiting for; for {@code certs show}, logs and tests. */
    public record Status(Optional<Instant> due, Optional<Instant> retryAt, int failures, Optional<String> lastError) {
    }

    private final Clock clock;
    private final RandomGenerator random;
    private final IdentityState state;
    private RotationPolicy policy;
    private Action action;
    private final AgentMetrics metrics;
    private Instant due;
    private Instant retryAt;
    private int failures;
    private String lastError;

    public Rotator(Clock clock, RotationPolicy policy, RandomGenerator random, IdentityState state, Action action) {
        this(clock, policy, random, state, action, new AgentMetrics("none"));
    }

    /** A rotator that counts each rotation and each failed attempt (by reason) into {@code metrics}. */
    public Rotator(Clock clock, RotationPolicy policy, RandomGenerator random, IdentityState state, Action action,
                   AgentMetrics metrics) {
        this.metrics = java.util.Objects.requireNonNull(metrics, "metrics");
        this.clock = clock;
        this.policy = policy;
        this.random = random;
        this.state = state;
        this.action = action;
        state.current().ifPresent(this::schedule);
    }

    /** Makes {@code identity} current (found on disk or just issued) and schedules its rotation. */
    public synchronized void adopt(WorkloadIdentity identity) {
        if (state.publish(identity) || due == null) {
            schedule(identity);
        }
        retryAt = null;
        failures = 0;
        lastError = null;
    }

    private void schedule(WorkloadIdentity identity) {
        due = policy.rotateAt(identity.notBefore(), identity.notAfter(), random.nextDouble());
        LOG.atInfo().addKeyValue("SPIFFE_ID", identity.spiffeId()).addKeyValue("CERT_SERIAL", identity.serialHex())
                .addKeyValue("CERT_NOT_AFTER", identity.notAfter())
                .log("identity {} serial {} valid until {}; rotation due at {}", identity.spiffeId(),
                        identity.serialHex(), identity.notAfter(), due);
    }

    /**
     * Uses {@code newPolicy} and {@code newAction} from now on (a reloaded configuration): a changed policy
     * reschedules the current identity's rotation, and a pending backoff is cancelled, so that a rotation that is
     * overdue (the CA failing) is tried again at once with the new settings.
     */
    public synchronized void reconfigure(RotationPolicy newPolicy, Action newAction) {
        boolean reschedule = !newPolicy.equals(policy);
        policy = newPolicy;
        action = newAction;
        retryAt = null;
        if (reschedule) {
            state.current().ifPresent(this::schedule);
        }
    }

    /** Rotates at the next tick, cancelling any backoff (operator request, {@code certs rotate}). */
    public synchronized void rotateNow() {
        due = clock.instant();
        retryAt = null;
    }

    public synchronized Status status() {
        return new Status(Optional.ofNullable(due), Optional.ofNullable(retryAt), failures,
                Optional.ofNullable(lastError));
    }

    /** Does what is due now; returns the instant of the next tick. */
    public synchronized Instant tick() {
        Instant now = clock.instant();
        if (retryAt != null && now.isBefore(retryAt)) {
            return retryAt;
        }
        Optional<WorkloadIdentity> current = state.current();
        if (current.isPresent() && due != null && now.isBefore(due)) {
            return due;
        }
        try {
            WorkloadIdentity renewed = action.renew(current);
            if (failures > 0) {
                LOG.info("renewal succeeded after {} failed attempt(s)", failures);
            }
            adopt(renewed);
            metrics.rotated();
            due = policy.afterRenewal(due, renewed.notBefore(), renewed.notAfter(), clock.instant());
            return due;
        } catch (Exception | OutOfMemoryError | StackOverflowError e) {
            failures++;
            lastError = e.getMessage();
            metrics.rotationFailed(reason(e));
            Duration wait = policy.backoff(failures, random.nextDouble());
            retryAt = now.plus(wait);
            report(current, now, e, wait);
            return retryAt;
        }
    }

    /** The failure's label: a bounded set, never the message. */
    static AgentMetrics.RotationFailure reason(Throwable e) {
        if (e instanceof CaException) {
            return AgentMetrics.RotationFailure.CA;
        }
        if (e instanceof InvalidIdentityException) {
            return AgentMetrics.RotationFailure.INVALID_IDENTITY;
        }
        if (e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException) {
            return AgentMetrics.RotationFailure.IO;
        }
        return AgentMetrics.RotationFailure.INTERNAL;
    }

    private void report(Optional<WorkloadIdentity> current, Instant now, Throwable e, Duration wait) {
        String retry = "attempt " + failures + " failed, retrying in " + ValueTypes.formatDuration(wait) + ": "
                + e.getMessage();
        if (current.isEmpty()) {
            LOG.error("no workload identity; {}", retry);
            return;
        }
        WorkloadIdentity identity = current.get();
        switch (policy.urgency(identity.notBefore(), identity.notAfter(), now)) {
            case WARNING -> LOG.warn("certificate renewal: {} (the current certificate is valid until {})", retry,
                    identity.notAfter());
            case CRITICAL -> LOG.error("certificate renewal: {}; the certificate EXPIRES in {} (at {})", retry,
                    ValueTypes.formatDuration(Duration.between(now, identity.notAfter())), identity.notAfter());
            case EXPIRED -> LOG.error("certificate renewal: {}; the certificate EXPIRED at {}: peers reject this "
                    + "workload until renewal succeeds", retry, identity.notAfter());
            default -> throw new IllegalStateException();
        }
    }
}
