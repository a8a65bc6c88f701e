package io.istiovm.agent.status;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.lifecycle.Phase;
import java.util.Locale;

/**
 * The JSON bodies of {@code /healthz/ready} and {@code /debug/status}, from one snapshot. Field names are
 * snake_case and stable: {@code istio-vm-agent status} and scripts read them. Only what the state holds is shown
 * (phases, one-line reasons, facts): the state never holds key material, tokens or CSRs.
 */
public final class StatusJson {
    static final ObjectMapper JSON = new ObjectMapper();

    private StatusJson() {
    }

    /** {@code {"ready":false,"not_ready":[{"component":..,"phase":..,"reason":..}]}}; also why the stage is not running. */
    public static ObjectNode readiness(AgentState.Snapshot snapshot) {
        ObjectNode root = JSON.createObjectNode();
        root.put("ready", snapshot.ready());
        if (!snapshot.ready()) {
            root.put("stage", lower(snapshot.stage()));
            ArrayNode notReady = root.putArray("not_ready");
            for (ComponentState c : snapshot.notReady()) {
                notReady.addObject().put("component", c.name()).put("phase", lower(c.phase()))
                        .put("reason", c.reason());
            }
        }
        return root;
    }

    /** Everything the state holds: stage, readiness, each component with its facts, the last reload, problems. */
    public static ObjectNode debugStatus(AgentState.Snapshot snapshot) {
        ObjectNode root = JSON.createObjectNode();
        root.put("at", snapshot.at().toString());
        root.put("stage", lower(snapshot.stage()));
        root.put("ready", snapshot.ready());
        root.put("summary", snapshot.summary());
        ArrayNode components = root.putArray("components");
        ArrayNode errors = JSON.createArrayNode();
        for (ComponentState c : snapshot.components()) {
            ObjectNode node = components.addObject();
            node.put("name", c.name());
            node.put("phase", lower(c.phase()));
            node.put("reason", c.reason());
            node.put("since", c.since().toString());
            if (c.lastProgress().isPresent()) {
                node.put("last_progress", c.lastProgress().get().toString());
            } else {
                node.putNull("last_progress");
            }
            ObjectNode facts = node.putObject("facts");
            c.facts().forEach(facts::put);
            if (c.phase() == Phase.FAILED || c.phase() == Phase.DEGRADED) {
                errors.addObject().put("component", c.name()).put("phase", lower(c.phase()))
                        .put("reason", c.reason()).put("since", c.since().toString());
            }
        }
        if (snapshot.lastReload().isPresent()) {
            AgentState.Reload reload = snapshot.lastReload().get();
            ObjectNode node = root.putObject("last_reload");
            node.put("at", reload.at().toString());
            node.put("outcome", reload.accepted() ? "accepted" : "refused");
            reload.refused().ifPresent(reason -> node.put("reason", reason));
        } else {
            root.putNull("last_reload");
        }
        snapshot.reloadRefused().ifPresent(reason -> errors.addObject().put("component", "reload")
                .put("phase", "refused").put("reason", reason));
        root.set("errors", errors);
        return root;
    }

    private static String lower(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }
}
