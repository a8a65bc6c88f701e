package io.istiovm.agent.systemd;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** STATUS= from a snapshot: the facts when ready, what is not ready otherwise. */
class StatusLineTest {
    private static final Instant NOW = Instant.parse("2026-12-02T20:00:00Z");

    private static ComponentState component(String name, Phase phase, String reason, Map<String, String> facts) {
        return new ComponentState(name, phase, reason, NOW, Optional.of(NOW), facts);
    }

    private static Map<String, String> facts(String... keyValues) {
        Map<String, String> facts = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            facts.put(keyValues[i], keyValues[i + 1]);
        }
        return facts;
    }

    private static AgentState.Snapshot running(ComponentState... components) {
        return new AgentState.Snapshot(NOW, AgentState.Stage.RUNNING, List.of(components), Optional.empty());
    }

    @Test
    void readyShowsWhatTheAgentHoldsFromTheFacts() {
        AgentState.Snapshot snapshot = running(
                component("hosts", Phase.READY, "2 names", facts("entries", "2")),
                component("identity", Phase.READY, "valid", facts("spiffe_id",
                        "spiffe://cluster.local/ns/vm/sa/default", "not_after", "2026-12-03T04:00:00Z")),
                component("sds", Phase.READY, "serving", Map.of()),
                component("envoy", Phase.READY, "LIVE", facts("epoch", "2", "pid", "4242")),
                component("capture", Phase.READY, "verified", facts("rules", "19")));
        assertThat(StatusLine.of(snapshot)).isEqualTo("ready: spiffe://cluster.local/ns/vm/sa/default until "
                + "12-03 04:00Z, epoch 2 (pid 4242), 19 rules, 2 hosts");
    }

    @Test
    void aMissingFactIsLeftOutAndADegradedComponentAndARefusedReloadAreSaid() {
        AgentState.Snapshot snapshot = new AgentState.Snapshot(NOW, AgentState.Stage.RUNNING, List.of(
                component("identity", Phase.DEGRADED, "renewal failing: CA unreachable",
                        facts("not_after", "2026-12-03T04:00:00Z")),
                component("envoy", Phase.READY, "LIVE", facts("epoch", "0"))),
                Optional.of("cluster.env:3: bad port"));
        assertThat(StatusLine.of(snapshot)).isEqualTo("ready: identity until 12-03 04:00Z, epoch 0; "
                + "identity: degraded (renewal failing: CA unreachable); reload refused: cluster.env:3: bad port");
        assertThat(StatusLine.of(running(component("sds", Phase.READY, "serving", Map.of())))).isEqualTo("ready");
    }

    @Test
    void notReadyIsTheSummaryOfWhatIsNotAndWhy() {
        AgentState.Snapshot snapshot = running(
                component("identity", Phase.READY, "valid", facts("spiffe_id", "spiffe://x/ns/a/sa/b")),
                component("envoy", Phase.STARTING, "waiting for LIVE", facts("epoch", "0")));
        assertThat(StatusLine.of(snapshot)).isEqualTo("envoy: starting (waiting for LIVE)");
        assertThat(StatusLine.of(new AgentState.Snapshot(NOW, AgentState.Stage.STARTING, List.of(),
                Optional.empty()))).isEqualTo("starting");
    }

    @Test
    void theLineIsBounded() {
        String reason = "x".repeat(1000);
        String line = StatusLine.of(running(component("envoy", Phase.FAILED, reason, Map.of())));
        assertThat(line).hasSize(StatusLine.MAX_CHARS).endsWith("\u2026").startsWith("envoy: failed (xxx");
        assertThat(StatusLine.bounded("\uD83D\uDE00".repeat(400))).doesNotContain("\uD83D\u2026");
        assertThat(StatusLine.bounded("bad \0 byte\tand tab")).isEqualTo("bad ? byte?and tab");
    }
}
