package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The nftables change subscription in a network namespace of the test's own: a change is announced, and the
 * listener, which sleeps in poll(2) with no timeout, ends as soon as it is closed (close() wakes it through its
 * eventfd; nothing else would).
 */
class NftablesEventsTest {
    private VmPeerNetwork network;

    @BeforeEach
    void createNamespaces() throws Exception {
        network = VmPeerNetwork.create();
    }

    @AfterEach
    void removeNamespaces() throws Exception {
        network.close();
    }

    @Test
    void announcesAChangeAndEndsWhenClosed() throws Exception {
        AtomicInteger changes = new AtomicInteger();
        NftablesEvents events = NftablesEvents.subscribe(Optional.of(network.vm()), changes::incrementAndGet);
        try {
            network.inNamespace(network.vm(), "iptables-nft", "-t", "nat", "-N", "SOME_CHAIN");
            Await.until("the change is announced", Duration.ofSeconds(10), () -> changes.get() > 0);
            assertThat(events.isListening()).isTrue();
        } finally {
            events.close();
        }
        assertThat(events.isListening()).as("the listener ended when close() returned").isFalse();
    }

    @Test
    void closesAtOnceWhenNothingEverChanged() throws Exception {
        NftablesEvents events = NftablesEvents.subscribe(Optional.of(network.vm()), () -> { });
        assertThat(events.isListening()).isTrue();
        events.close();
        assertThat(events.isListening()).isFalse();
    }
}
