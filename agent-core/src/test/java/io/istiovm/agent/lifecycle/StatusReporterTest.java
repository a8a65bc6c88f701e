package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.SteppingClock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Facts: the named values a component holds, beside its phase and reason. */
class StatusReporterTest {
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T00:00:00Z"));
    private final AgentState state = new AgentState(clock);

    @Test
    void factsAreKeptInOrderThroughPhaseChangesAndOnlyAChangeIsAnnounced() {
        List<AgentState.Snapshot> heard = new ArrayList<>();
        state.addListener(heard::add);
        StatusReporter identity = state.reporter("identity");
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("spiffe_id", "spiffe://cluster.local/ns/vm/sa/default");
        facts.put("not_after", "2026-12-03T04:00:00Z");
        identity.facts(facts);
        identity.facts(new LinkedHashMap<>(facts));
        identity.ready("valid");
        identity.progress();

        ComponentState now = state.snapshot().component("identity").orElseThrow();
        assertThat(now.facts().keySet()).containsExactly("spiffe_id", "not_after");
        assertThat(now.fact("not_after")).contains("2026-12-03T04:00:00Z");
        assertThat(now.phase()).isEqualTo(Phase.READY);
        // The snapshot on registering the listener, then the facts once (the equal second set is no change), then
        // the phase; progress is not announced.
        assertThat(heard).hasSize(3);
    }

    @Test
    void aFactIsASnakeCaseKeyWithAOneLineValue() {
        StatusReporter envoy = state.reporter("envoy");
        assertThatThrownBy(() -> envoy.facts(Map.of("Epoch", "1"))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> envoy.facts(Map.of("epoch", "1\n2"))).isInstanceOf(IllegalArgumentException.class);
        assertThat(state.snapshot().component("envoy").orElseThrow().facts()).isEmpty();
    }
}
