package io.istiovm.agent.netfilter;

import java.net.InetAddress;
import java.util.List;

/**
 * The addresses the agent's own hosts block hands out, as the assembly reads them from the hosts plan (netfilter
 * does not know the hosts package). The capture component plans with them at prepare and follows them while it
 * runs: on {@link #subscribe} notifications (the hosts file was rewritten) and at every verification.
 */
public interface HandedOutAddresses {
    /** No hosts block: nothing to follow. */
    HandedOutAddresses NONE = new HandedOutAddresses() {
        @Override
        public List<InetAddress> read() {
            return List.of();
        }

        @Override
        public AutoCloseable subscribe(Runnable onChange) {
            return () -> { };
        }
    };

    /** The block's addresses now; throws when its sources cannot be read (the hosts component reports why). */
    List<InetAddress> read() throws Exception;

    /** Calls {@code onChange} (on any thread; it only wakes the loop) when the block may have changed. */
    AutoCloseable subscribe(Runnable onChange) throws Exception;
}
