package io.istiovm.agent.assembly;

import io.istiovm.agent.ca.CaChoice;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.envoy.AdminAddress;
import io.istiovm.agent.envoy.EnvoyAdminClient;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.metrics.AgentMetrics;
import io.istiovm.agent.metrics.BuildInfo;
import io.istiovm.agent.netfilter.NetfilterTools;
import io.istiovm.agent.sds.IdentityStateSource;
import io.istiovm.agent.status.EnvoyStats;
import io.istiovm.agent.systemd.NotifySettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The one place that knows every area: it reads {@link AgentConfig}, builds each area's settings once, and wires
 * the components (for {@code run}) and the one-shot operations (for the CLI) from them and the shared
 * {@link AgentRuntime}.
 *
 * <p>Start order: the control-plane names in /etc/hosts first (the CA is reached through them), then the identity
 * (SDS serves it to Envoy), SDS, Envoy, and the capture rules last, so that they come out first on stop; with
 * VM_AGENT_CAPTURE_FAIL_CLOSED the capture rules come before Envoy instead.
 */
public final class Assembly {
    private final AgentRuntime runtime;
    /** The agent's one current identity: it outlives reloads, and SDS serves whatever the identity area puts here. */
    private final IdentityState identity = new IdentityState();
    /** Which CA endpoint issued last (VM_AGENT_CA_PROTOCOL=auto): it outlives reloads too. */
    private final CaChoice caChoice = new CaChoice();
    /** The process's one metrics registry: counts outlive reloads, and the status server scrapes it. */
    private final AgentMetrics metrics = new AgentMetrics(BuildInfo.version());

    public Assembly(AgentRuntime runtime) {
        this.runtime = Objects.requireNonNull(runtime, "runtime");
    }

    public AgentRuntime runtime() {
        return runtime;
    }

    public AgentMetrics metrics() {
        return metrics;
    }

    public HostsArea hosts(AgentConfig config) {
        return new HostsArea(config, runtime);
    }

    public IdentityArea identity(AgentConfig config) {
        return new IdentityArea(config, runtime, identity, caChoice, metrics);
    }

    public EnvoyArea envoy(AgentConfig config) {
        return new EnvoyArea(config, runtime, new IdentityStateSource(identity));
    }

    public CaptureArea capture(AgentConfig config) {
        return new CaptureArea(config, runtime, hosts(config));
    }

    /**
     * Envoy's own {@code /stats/prometheus} over its admin API, for the status server's merged endpoint: at most
     * {@link #ENVOY_SCRAPE_TIMEOUT} (Prometheus' default scrape timeout is 10 s, and the agent's part must still fit)
     * and EnvoyAdminClient's size limit; empty whenever Envoy does not answer 200.
     */
    public EnvoyStats envoyStats(AgentConfig config) throws ConfigException {
        return envoyStats(envoy(config).settings().adminAddress(), ENVOY_SCRAPE_TIMEOUT);
    }

    /** Envoy's {@code /stats/prometheus} at {@code admin}, answered within {@code timeout}, else empty. */
    public static EnvoyStats envoyStats(AdminAddress admin, Duration timeout) {
        EnvoyAdminClient client = new EnvoyAdminClient(admin, timeout);
        return () -> client.get("/stats/prometheus").filter(answer -> answer.status() == 200)
                .map(EnvoyAdminClient.Response::body);
    }

    static final Duration ENVOY_SCRAPE_TIMEOUT = Duration.ofSeconds(5);

    /** VM_AGENT_STATUS_PORT: where the status server listens on 127.0.0.1. */
    public int statusPort(AgentConfig config) {
        return config.get(ConfigKeys.VM_AGENT_STATUS_PORT);
    }

    /** The daemon's components for {@code config}, in start order. */
    public List<Component> components(AgentConfig config) {
        List<Component> components = new ArrayList<>();
        components.addAll(hosts(config).components());
        components.addAll(identity(config).components());
        CaptureArea capture = capture(config);
        if (capture.failClosed()) {
            // Fail-closed: nothing may bypass Envoy, so the rules go in before it starts and come out after it.
            components.addAll(capture.components());
            components.addAll(envoy(config).components());
        } else {
            // Hold traffic: Envoy first; the capture component applies its rules once Envoy is LIVE.
            components.addAll(envoy(config).components());
            components.addAll(capture.components());
        }
        return List.copyOf(components);
    }

    /**
     * The systemd notifier's bounds, from the deadlines of the slow steps. A loop is stale (the watchdog pings stop)
     * {@link NotifySettings#CHECK_IN_AND_SLACK} (15 s) after the longest step it can legitimately run:
     * <ul>
     *   <li>identity: a rotation may try two CA endpoints (VM_AGENT_CA_PROTOCOL=auto), each within
     *       VM_AGENT_CA_TIMEOUT: 2 x 30 s, stale after 75 s by default;</li>
     *   <li>envoy: it waits at most VM_AGENT_ENVOY_LIVE_TIMEOUT for a LIVE epoch or VM_AGENT_ENVOY_STOP_TIMEOUT for
     *       an exit: 20 s, stale after 35 s;</li>
     *   <li>capture: one step runs up to five netfilter programs per family (save, test, restore, save to verify,
     *       undo), each killed after {@link NetfilterTools#PROGRAM_DEADLINE}: 10 x 60 s, stale after 615 s. Long,
     *       but only a program that hangs every time gets near it, and restarting the agent would not cure that;</li>
     *   <li>the rest (hosts, sds: local files): 10 s, stale after 25 s.</li>
     * </ul>
     * The start may be extended for an enrolment (two CA attempts), Envoy's LIVE wait and 30 s for the rest
     * (110 s by default; the unit's TimeoutStartSec= is 90 s); the stop for Envoy's drain (the longer of
     * MINIMUM_DRAIN_DURATION and TERMINATION_DRAIN_DURATION), its SIGKILL deadline and 15 s for the rest (30 s by
     * default; the unit's TimeoutStopSec= is 45 s). Read once at start; a reload does not change them.
     */
    public NotifySettings notifySettings(AgentConfig config) {
        Duration ca = config.get(ConfigKeys.VM_AGENT_CA_TIMEOUT).multipliedBy(2);
        Duration live = config.get(ConfigKeys.VM_AGENT_ENVOY_LIVE_TIMEOUT);
        Duration envoyStop = config.get(ConfigKeys.VM_AGENT_ENVOY_STOP_TIMEOUT);
        Duration drain = max(config.get(ConfigKeys.MINIMUM_DRAIN_DURATION),
                config.get(ConfigKeys.TERMINATION_DRAIN_DURATION));
        Map<String, Duration> longestStep = Map.of(
                "identity", ca,
                "envoy", max(live, envoyStop),
                "capture", NetfilterTools.PROGRAM_DEADLINE.multipliedBy(10));
        return new NotifySettings(longestStep, Duration.ofSeconds(10), ca.plus(live).plusSeconds(30),
                drain.plus(envoyStop).plusSeconds(15), Duration.ofSeconds(5));
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    /** Only the hosts block ({@code hosts watch}). */
    public List<Component> hostsOnly(AgentConfig config) {
        return hosts(config).components();
    }
}
