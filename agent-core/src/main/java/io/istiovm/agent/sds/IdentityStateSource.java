package io.istiovm.agent.sds;

import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Serves the identity the rotation component publishes: each {@link WorkloadIdentity} in {@link IdentityState}
 * becomes the PEM form SDS hands to Envoy, versioned by the leaf's serial number in hex (as Envoy's {@code /certs}
 * shows), so Envoy gets a new certificate in memory the moment the agent has one.
 */
public final class IdentityStateSource implements IdentitySource {
    private final IdentityState state;

    public IdentityStateSource(IdentityState state) {
        this.state = Objects.requireNonNull(state);
    }

    @Override
    public Optional<ServedIdentity> current() {
        return state.current().map(IdentityStateSource::served);
    }

    @Override
    public Subscription subscribe(Consumer<ServedIdentity> listener) {
        // IdentityState replays the current identity on subscription; this contract promises only new ones.
        WorkloadIdentity atSubscription = state.current().orElse(null);
        AtomicBoolean replay = new AtomicBoolean(atSubscription != null);
        Runnable cancel = state.subscribe(identity -> {
            if (replay.getAndSet(false) && identity == atSubscription) {
                return;
            }
            listener.accept(served(identity));
        });
        return cancel::run;
    }

    static ServedIdentity served(WorkloadIdentity identity) {
        return new ServedIdentity(Pem.encodeCertificates(identity.chain()),
                new String(Pem.encodePrivateKey(identity.key(), true), StandardCharsets.US_ASCII),
                Pem.encodeCertificates(identity.roots()), identity.serial().toString(16));
    }
}
