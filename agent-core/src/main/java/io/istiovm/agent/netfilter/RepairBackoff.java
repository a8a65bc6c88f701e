package io.istiovm.agent.netfilter;

import java.time.Duration;
import java.time.Instant;

/**
 * How soon drift may be repaired again. A repair runs at once unless the rules drifted again within
 * {@link #FIGHT_WINDOW} of the previous repair: then another controller keeps rewriting them (a firewall manager, a
 * second agent, a script in a loop), and each further repair waits twice as long as the one before, from
 * {@link #FIRST} up to {@link #MAX}, so that the two do not rewrite netfilter against each other in a tight loop
 * (on the nft backend every change wakes the agent within 200 ms). A clean check ends the fight.
 */
final class RepairBackoff {
    static final Duration FIRST = Duration.ofSeconds(1);
    static final Duration MAX = Duration.ofMinutes(5);
    /** Drift this soon after a repair is someone undoing it, not an operator's one-off edit. */
    static final Duration FIGHT_WINDOW = Duration.ofSeconds(10);

    private int consecutive;
    private Instant lastRepair;
    private Instant notBefore;

    boolean mayRepair(Instant now) {
        return notBefore == null || !now.isBefore(notBefore);
    }

    /** Records a repair at {@code now}; returns how long the next repair, if drift comes back, has to wait. */
    Duration repaired(Instant now) {
        boolean again = lastRepair != null && Duration.between(lastRepair, now).compareTo(FIGHT_WINDOW) < 0;
        consecutive = again ? consecutive + 1 : 1;
        lastRepair = now;
        Duration delay = delay(consecutive);
        notBefore = now.plus(delay);
        return delay;
    }

    void clean() {
        consecutive = 0;
        lastRepair = null;
        notBefore = null;
    }

    /** Repairs since the last clean check: 2 or more means someone is rewriting the rules against the agent. */
    int consecutive() {
        return consecutive;
    }

    /** When the next repair may run, or null when it may run at once. */
    Instant notBefore() {
        return notBefore;
    }

    static Duration delay(int repairsInARow) {
        if (repairsInARow < 2) {
            return Duration.ZERO;
        }
        int doublings = Math.min(repairsInARow - 2, 20);
        Duration delay = FIRST.multipliedBy(1L << doublings);
        return delay.compareTo(MAX) > 0 ? MAX : delay;
    }
}
