package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.HostFacts;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.Executors;

/** Entry points that join the configuration to the real host: the plan for this machine, the daemon component. */
public final class CapturePlans {
    private static final Path ETC = Path.of("/etc");

    private CapturePlans() {
    }

    /** The plan for this host: sshd's ports, the proxy user and agent group from /etc, the host's addresses. */
    public static CapturePlan forHost(AgentConfig config, HostFacts host) throws IOException, ConfigException {
        return CapturePlanner.plan(config, CaptureHost.read(config, host, ETC));
    }

    /** The TPROXY route the configuration implies, for cleaning without a plan. */
    public static Optional<CapturePlan.TproxyRoute> configuredRoute(AgentConfig config) {
        return "TPROXY".equals(config.get(ConfigKeys.ISTIO_INBOUND_INTERCEPTION_MODE))
                ? Optional.of(new CapturePlan.TproxyRoute(config.get(ConfigKeys.ISTIO_INBOUND_TPROXY_MARK),
                        config.get(ConfigKeys.ISTIO_INBOUND_TPROXY_ROUTE_TABLE)))
                : Optional.empty();
    }

    /** The component the daemon runs, on the real host with its own verification thread. */
    public static CaptureComponent component(AgentConfig config) {
        return new CaptureComponent(config, () -> forHost(config, HostFacts.system()), NetfilterTools.system(),
                Executors.newSingleThreadScheduledExecutor(runnable -> {
                    Thread thread = new Thread(runnable, "capture-verify");
                    thread.setDaemon(true);
                    return thread;
                }), Clock.systemUTC(), onChange -> NftablesEvents.subscribe(Optional.empty(), onChange));
    }
}
