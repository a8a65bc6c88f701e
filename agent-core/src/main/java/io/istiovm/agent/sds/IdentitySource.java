package io.istiovm.agent.sds;

import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the SDS server needs from whoever owns the workload identity (the certificate rotation component, or a
 * directory of PEM files): the identity now, and a call whenever it changes.
 */
public interface IdentitySource {

    /** The current identity, or empty before the first one exists. */
    Optional<ServedIdentity> current();

    /**
     * Calls {@code listener} with every new identity from now on (not with the current one). Listeners must be
     * quick; they may be called from the source's own thread. Closing the subscription stops the calls.
     */
    Subscription subscribe(Consumer<ServedIdentity> listener);

    /** An active subscription. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }
}
