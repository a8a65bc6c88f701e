package io.istiovm.agent.certs;

import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The agent's one current workload identity. The rotator publishes each new identity here; consumers (the SDS
 * server) read {@link #current()} or subscribe. A listener is called with the current identity on subscription
 * and then once per change, on the publishing thread, in order.
 */
public final class IdentityState {
    private final CopyOnWriteArrayList<Consumer<WorkloadIdentity>> listeners = new CopyOnWriteArrayList<>();
    private volatile WorkloadIdentity current;

    public Optional<WorkloadIdentity> current() {
        return Optional.ofNullable(current);
    }

    /** Publishes {@code identity} if it differs from the current one; returns whether it did. */
    public synchronized boolean publish(WorkloadIdentity identity) {
        if (identity.sameLeafAs(current)) {
            return false;
        }
        current = identity;
        for (Consumer<WorkloadIdentity> listener : listeners) {
            listener.accept(identity);
        }
        return true;
    }

    /** Subscribes; returns a handle that unsubscribes. */
    public synchronized Runnable subscribe(Consumer<WorkloadIdentity> listener) {
        listeners.add(listener);
        if (current != null) {
            listener.accept(current);
        }
        return () -> listeners.remove(listener);
    }
}
