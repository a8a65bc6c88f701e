package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.IdentityValidator;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.TestPki;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The rotation state machine on a stepped clock: schedule, backoff, never giving up, recovery. */
class RotatorTest {
    private static final Instant START = Instant.parse("2026-03-01T00:00:00Z");
    private static final Duration LIFETIME = Duration.ofHours(24);
    private static final String ID = TestCa.identity("vm", "default");

    private final SteppingClock clock = new SteppingClock(START);
    private final TestPki pki = TestPki.create("rotator test root", START.minus(Duration.ofDays(1)),
            START.plus(Duration.ofDays(365)));
    private final RotationPolicy policy = new RotationPolicy(0.5, 0, Duration.ZERO, Duration.ofSeconds(1),
            Duration.ofMinutes(2));
    private final IdentityState state = new IdentityState();
    private final List<WorkloadIdentity> published = new ArrayList<>();
    private boolean caDown;
    private int attempts;

    RotatorTest() {
        state.subscribe(published::add);
    }

    /** A renewal against {@link #pki}: a fresh certificate valid from the clock's now for {@link #LIFETIME}. */
    private WorkloadIdentity issue(Optional<WorkloadIdentity> current) throws Exception {
        attempts++;
        if (caDown) {
            throw new CaException("CA unavailable");
        }
        KeyPair keys = TestPki.ecKeys();
        Instant now = clock.instant();
        return new IdentityValidator(new IdentityExpectation("cluster.local", "vm", Optional.empty()), "key.pem",
                "cert-chain.pem", "root-cert.pem")
                .validate(keys.getPrivate(), List.of(pki.issue(keys.getPublic(), List.of(ID), List.of(), now,
                        now.plus(LIFETIME))), List.of(pki.root()), now);
    }

    private Rotator rotator() {
        return new Rotator(clock, policy, new SplittableRandom(1), state, this::issue);
    }

    @Test
    void enrolsAtOnceThenRotatesAtHalfLife() {
        Rotator rotator = rotator();
        Instant next = rotator.tick();
        assertThat(published).hasSize(1);
        assertThat(next).isEqualTo(START.plus(Duration.ofHours(12)));

        clock.advance(Duration.ofHours(11));
        assertThat(rotator.tick()).isEqualTo(next);
        assertThat(published).hasSize(1);

        clock.set(next);
        Instant second = rotator.tick();
        assertThat(published).hasSize(2);
        assertThat(second).isEqualTo(next.plus(Duration.ofHours(12)));
        assertThat(published.get(1).serial()).isNotEqualTo(published.get(0).serial());
        assertThat(published.get(1).spiffeId().uri()).isEqualTo(ID);
    }

    @Test
    void failuresBackOffExponentiallyKeepTheCurrentIdentityAndNeverGiveUp() {
        Rotator rotator = rotator();
        rotator.tick();
        WorkloadIdentity first = published.get(0);
        clock.set(START.plus(Duration.ofHours(12)));
        caDown = true;

        List<Duration> waits = new ArrayList<>();
        for (int i = 0; i < 450; i++) {
            Instant now = clock.instant();
            Instant next = rotator.tick();
            waits.add(Duration.between(now, next));
            clock.set(next);
        }
        assertThat(attempts).isEqualTo(451);
        assertThat(rotator.status().failures()).isEqualTo(450);
        assertThat(rotator.status().lastError()).contains("CA unavailable");
        assertThat(state.current()).contains(first);
        // Doubling (less at most 20 % jitter) until the 2-minute cap, then at the cap for ever.
        assertThat(waits.get(0)).isBetween(Duration.ofMillis(800), Duration.ofSeconds(1));
        assertThat(waits.get(3)).isBetween(Duration.ofMillis(6400), Duration.ofSeconds(8));
        assertThat(waits.subList(7, 450)).allSatisfy(w ->
                assertThat(w).isBetween(Duration.ofSeconds(96), Duration.ofMinutes(2)));
        // Far past expiry it still tries: the identity comes back as soon as the CA does.
        assertThat(clock.instant()).isAfter(first.notAfter());

        caDown = false;
        Instant next = rotator.tick();
        assertThat(published).hasSize(2);
        assertThat(state.current().orElseThrow().isValidAt(clock.instant())).isTrue();
        assertThat(rotator.status().failures()).isZero();
        assertThat(next).isEqualTo(clock.instant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS)
                .plus(Duration.ofHours(12)));
    }

    @Test
    void ticksDuringBackoffDoNotCallTheCa() {
        Rotator rotator = rotator();
        caDown = true;
        Instant retry = rotator.tick();
        assertThat(attempts).isEqualTo(1);
        clock.advance(Duration.ofMillis(500));
        assertThat(rotator.tick()).isEqualTo(retry);
        assertThat(attempts).isEqualTo(1);
        assertThat(state.current()).isEmpty();
    }

    @Test
    void rotateNowCancelsTheSchedule() {
        Rotator rotator = rotator();
        Instant due = rotator.tick();
        clock.advance(Duration.ofMinutes(1));
        rotator.rotateNow();
        rotator.tick();
        assertThat(clock.instant()).isBefore(due);
        assertThat(published).hasSize(2);
    }

    @Test
    void rotateNowCancelsABackoffInProgress() {
        Rotator rotator = rotator();
        rotator.tick();
        clock.set(START.plus(Duration.ofHours(12)));
        caDown = true;
        // Four failures: the next retry is 6.4 to 8 s away.
        for (int i = 0; i < 4; i++) {
            clock.set(rotator.tick());
        }
        Instant retryAt = rotator.tick();
        assertThat(rotator.status().retryAt()).contains(retryAt);
        assertThat(Duration.between(clock.instant(), retryAt)).isGreaterThan(Duration.ofSeconds(6));
        assertThat(attempts).isEqualTo(6);

        // In the backoff, a tick does not call the CA; after rotateNow the very next one does, at once.
        clock.advance(Duration.ofSeconds(1));
        assertThat(rotator.tick()).isEqualTo(retryAt);
        assertThat(attempts).isEqualTo(6);
        caDown = false;
        rotator.rotateNow();
        assertThat(rotator.status().retryAt()).isEmpty();
        rotator.tick();
        assertThat(attempts).isEqualTo(7);
        assertThat(clock.instant()).isBefore(retryAt);
        assertThat(published).hasSize(2);
        assertThat(rotator.status().failures()).isZero();
    }

    @Test
    void adoptingAnIdentityFoundOnDiskReschedulesFromIt() throws Exception {
        Rotator rotator = rotator();
        rotator.tick();
        clock.advance(Duration.ofHours(6));
        WorkloadIdentity placed = issue(Optional.empty());
        rotator.adopt(placed);
        assertThat(state.current()).contains(placed);
        assertThat(rotator.tick()).isEqualTo(START.plus(Duration.ofHours(18)));
    }

    @Test
    void reconfiguringReschedulesByTheNewPolicyAndRetriesAnOverdueRotationAtOnce() {
        Rotator rotator = rotator();
        rotator.tick();
        RotationPolicy quarter = new RotationPolicy(0.25, 0, Duration.ZERO, Duration.ofSeconds(1),
                Duration.ofMinutes(2));
        rotator.reconfigure(quarter, this::issue);
        assertThat(rotator.tick()).isEqualTo(START.plus(Duration.ofHours(18)));

        clock.set(START.plus(Duration.ofHours(18)));
        caDown = true;
        Instant retry = rotator.tick();
        assertThat(retry).isAfter(clock.instant());
        caDown = false;
        rotator.reconfigure(quarter, this::issue);
        rotator.tick();
        assertThat(published).hasSize(2);
        assertThat(attempts).isEqualTo(3);
    }

    @Test
    void jitteredSchedulesOfManyAgentsSpreadOverTheWindow() {
        RotationPolicy jittered = new RotationPolicy(0.5, 0.05, Duration.ZERO, Duration.ofSeconds(1),
                Duration.ofMinutes(2));
        SplittableRandom seeds = new SplittableRandom(3);
        List<Instant> due = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            IdentityState agentState = new IdentityState();
            Rotator agent = new Rotator(clock, jittered, new SplittableRandom(seeds.nextLong()), agentState,
                    this::issue);
            due.add(agent.tick());
        }
        Instant earliest = due.stream().min(Instant::compareTo).orElseThrow();
        Instant latest = due.stream().max(Instant::compareTo).orElseThrow();
        assertThat(earliest).isAfterOrEqualTo(START.plus(Duration.ofMinutes(12 * 60 - 72)));
        assertThat(latest).isBeforeOrEqualTo(START.plus(Duration.ofMinutes(12 * 60 + 72)));
        assertThat(Duration.between(earliest, latest)).isGreaterThan(Duration.ofMinutes(120));
        assertThat(due.stream().distinct().count()).isEqualTo(200);
    }

    @Test
    void aCertificateWhoseRotationTimeHasPassedIsNotRenewedBackToBack() {
        // A CA that answers with certificates already past their rotation instant (issued an hour ago for 90
        // minutes: half-life passed): without a floor the rotator would call it again at once, forever.
        Rotator rotator = new Rotator(clock, policy, new SplittableRandom(1), state, current -> {
            attempts++;
            KeyPair keys = TestPki.ecKeys();
            Instant now = clock.instant();
            return new IdentityValidator(new IdentityExpectation("cluster.local", "vm", Optional.empty()), "key.pem",
                    "cert-chain.pem", "root-cert.pem").validate(keys.getPrivate(), List.of(pki.issue(keys.getPublic(),
                    List.of(ID), List.of(), now.minus(Duration.ofHours(1)), now.plus(Duration.ofMinutes(30)))),
                    List.of(pki.root()), now);
        });
        Instant next = rotator.tick();
        assertThat(attempts).isEqualTo(1);
        assertThat(next).isEqualTo(START.plus(RotationPolicy.MIN_ROTATION_INTERVAL));
        assertThat(rotator.tick()).isEqualTo(next);
        assertThat(attempts).isEqualTo(1);
        clock.set(next);
        assertThat(rotator.tick()).isEqualTo(next.plus(RotationPolicy.MIN_ROTATION_INTERVAL));
        assertThat(attempts).isEqualTo(2);
    }
}
