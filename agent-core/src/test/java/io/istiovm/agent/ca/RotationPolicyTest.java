package io.istiovm.agent.ca;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.ca.RotationPolicy.Urgency;
import java.time.Duration;
import java.time.Instant;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RotationPolicyTest {
    private static final Instant NOT_BEFORE = Instant.parse("2026-01-01T00:00:00Z");
    private static final Instant NOT_AFTER = NOT_BEFORE.plus(Duration.ofHours(24));

    private static RotationPolicy policy(double ratio, double jitter, Duration minRemaining) {
        return new RotationPolicy(ratio, jitter, minRemaining, Duration.ofSeconds(1), Duration.ofMinutes(2));
    }

    @Test
    void rotatesAtTheGraceRatioOfTheLifetimeWithoutJitter() {
        RotationPolicy p = policy(0.5, 0, Duration.ZERO);
        assertThat(p.rotateAt(NOT_BEFORE, NOT_AFTER, 0.3)).isEqualTo(NOT_BEFORE.plus(Duration.ofHours(12)));
        assertThat(policy(0.25, 0, Duration.ZERO).rotateAt(NOT_BEFORE, NOT_AFTER, 0.9))
                .isEqualTo(NOT_BEFORE.plus(Duration.ofHours(18)));
    }

    @Test
    void jitterSpreadsRotationsEvenlyAcrossTheWindow() {
        RotationPolicy p = policy(0.5, 0.1, Duration.ZERO);
        Instant earliest = NOT_BEFORE.plus(Duration.ofMinutes(60 * 12 - 144));
        Instant latest = NOT_BEFORE.plus(Duration.ofMinutes(60 * 12 + 144));
        assertThat(p.rotateAt(NOT_BEFORE, NOT_AFTER, 1.0)).isEqualTo(earliest);
        assertThat(p.rotateAt(NOT_BEFORE, NOT_AFTER, 0.0)).isEqualTo(latest);
        assertThat(p.rotationWindow(NOT_BEFORE, NOT_AFTER)).containsExactly(earliest, latest);

        // 10,000 VMs with independent randomness fill ten equal buckets of the window roughly evenly.
        SplittableRandom random = new SplittableRandom(42);
        int[] buckets = new int[10];
        long window = Duration.between(earliest, latest).toNanos();
        for (int i = 0; i < 10_000; i++) {
            Instant at = p.rotateAt(NOT_BEFORE, NOT_AFTER, random.nextDouble());
            assertThat(at).isBetween(earliest, latest);
            int bucket = (int) Math.min(9, Duration.between(earliest, at).toNanos() * 10 / window);
            buckets[bucket]++;
        }
        for (int count : buckets) {
            assertThat(count).isBetween(850, 1150);
        }
    }

    @Test
    void minimumRemainingTimeBringsRotationForward() {
        RotationPolicy p = policy(0.5, 0, Duration.ofHours(20));
        Instant at = p.rotateAt(NOT_BEFORE, NOT_AFTER.plus(Duration.ofHours(24)), 0.5);
        // 48 h certificate: the ratio says 24 h before expiry; the 20 h target is later, so the ratio wins.
        assertThat(at).isEqualTo(NOT_BEFORE.plus(Duration.ofHours(24)));
        RotationPolicy target = policy(0.1, 0, Duration.ofHours(20));
        // Ratio 0.1 would wait until 4.8 h before expiry; the target insists on 20 h.
        assertThat(target.rotateAt(NOT_BEFORE, NOT_BEFORE.plus(Duration.ofHours(48)), 0.5))
                .isEqualTo(NOT_BEFORE.plus(Duration.ofHours(28)));
    }

    @Test
    void minimumRemainingTimeIsIgnoredForCertificatesTooShortToHonourIt() {
        RotationPolicy p = policy(0.5, 0, Duration.ofHours(6));
        Instant notAfter = NOT_BEFORE.plus(Duration.ofSeconds(20));
        assertThat(p.rotateAt(NOT_BEFORE, notAfter, 0.5)).isEqualTo(NOT_BEFORE.plus(Duration.ofSeconds(10)));
    }

    @Test
    void ratioPlusJitterIsClampedToTheLifetime() {
        RotationPolicy p = policy(0.95, 0.2, Duration.ZERO);
        assertThat(p.rotateAt(NOT_BEFORE, NOT_AFTER, 1.0)).isEqualTo(NOT_BEFORE);
        RotationPolicy q = policy(0.05, 0.2, Duration.ZERO);
        assertThat(q.rotateAt(NOT_BEFORE, NOT_AFTER, 0.0)).isEqualTo(NOT_AFTER);
    }

    @Test
    void backoffDoublesFromOneSecondUpToTheCapAndStaysThere() {
        RotationPolicy p = policy(0.5, 0, Duration.ZERO);
        assertThat(p.backoff(1, 0)).isEqualTo(Duration.ofSeconds(1));
        assertThat(p.backoff(2, 0)).isEqualTo(Duration.ofSeconds(2));
        assertThat(p.backoff(5, 0)).isEqualTo(Duration.ofSeconds(16));
        assertThat(p.backoff(7, 0)).isEqualTo(Duration.ofSeconds(64));
        assertThat(p.backoff(8, 0)).isEqualTo(Duration.ofMinutes(2));
        assertThat(p.backoff(1_000_000, 0)).isEqualTo(Duration.ofMinutes(2));
    }

    @Test
    void backoffJitterShortensByAtMostAFifthAndNeverExceedsTheCap() {
        RotationPolicy p = policy(0.5, 0, Duration.ZERO);
        SplittableRandom random = new SplittableRandom(7);
        for (int failures = 1; failures < 100; failures++) {
            Duration wait = p.backoff(failures, random.nextDouble());
            Duration base = p.backoff(failures, 0);
            assertThat(wait).isLessThanOrEqualTo(base).isGreaterThanOrEqualTo(
                    Duration.ofNanos((long) (base.toNanos() * 0.8)));
            assertThat(wait).isLessThanOrEqualTo(Duration.ofMinutes(2));
        }
        assertThat(p.backoff(3, 0.5)).isEqualTo(Duration.ofMillis(3600));
    }

    @Test
    void urgencyGrowsAsExpiryNears() {
        RotationPolicy p = policy(0.5, 0, Duration.ZERO);
        assertThat(p.urgency(NOT_BEFORE, NOT_AFTER, NOT_BEFORE.plus(Duration.ofHours(13)))).isEqualTo(Urgency.WARNING);
        assertThat(p.urgency(NOT_BEFORE, NOT_AFTER, NOT_BEFORE.plus(Duration.ofHours(20)))).isEqualTo(Urgency.CRITICAL);
        assertThat(p.urgency(NOT_BEFORE, NOT_AFTER, NOT_AFTER)).isEqualTo(Urgency.EXPIRED);
    }
}
