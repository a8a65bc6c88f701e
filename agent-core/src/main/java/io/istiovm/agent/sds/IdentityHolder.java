package io.istiovm.agent.sds;

import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** An {@link IdentitySource} that is told the identity: by the certificate rotation, a file watcher, or a test. */
public final class IdentityHolder implements IdentitySource {
    private static final Logger LOG = LoggerFactory.getLogger(IdentityHolder.class);

    private final CopyOnWriteArrayList<Consumer<ServedIdentity>> listeners = new CopyOnWriteArrayList<>();
    private volatile ServedIdentity current;

    @Override
    public Optional<ServedIdentity> current() {
        return Optional.ofNullable(current);
    }

    /** Publishes {@code identity}; listeners hear of it only when its version differs from the current one. */
    public void set(ServedIdentity identity) {
        synchronized (this) {
            if (current != null && current.version().equals(identity.version())) {
                return;
            }
            current = identity;
        }
        for (Consumer<ServedIdentity> listener : listeners) {
            try {
                listener.accept(identity);
            } catch (RuntimeException e) {
                LOG.error("identity listener failed for version {}", identity.version(), e);
            }
        }
    }

    @Override
    public Subscription subscribe(Consumer<ServedIdentity> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }
}
