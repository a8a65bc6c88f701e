package io.istiovm.agent.assembly;

import io.istiovm.agent.ca.CaChoice;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.sds.IdentityStateSource;
import java.util.ArrayList;
import java.util.List;
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

    public Assembly(AgentRuntime runtime) {
        this.runtime = Objects.requireNonNull(runtime, "runtime");
    }

    public AgentRuntime runtime() {
        return runtime;
    }

    public HostsArea hosts(AgentConfig config) {
        return new HostsArea(config, runtime);
    }

    public IdentityArea identity(AgentConfig config) {
        return new IdentityArea(config, runtime, identity, caChoice);
    }

    public EnvoyArea envoy(AgentConfig config) {
        return new EnvoyArea(config, runtime, new IdentityStateSource(identity));
    }

    public CaptureArea capture(AgentConfig config) {
        return new CaptureArea(config, runtime, hosts(config));
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

    /** Only the hosts block ({@code hosts watch}). */
    public List<Component> hostsOnly(AgentConfig config) {
        return hosts(config).components();
    }
}
