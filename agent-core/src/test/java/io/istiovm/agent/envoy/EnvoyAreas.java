package io.istiovm.agent.envoy;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.EnvoyArea;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import java.nio.file.FileSystems;
import java.time.Instant;

/** The assembly's Envoy area for the Envoy tests: settings as the daemon builds them, on stepped loops. */
final class EnvoyAreas {
    static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");

    private EnvoyAreas() {
    }

    /** The area of {@code config} on {@code loops}, with the host's users and processes under {@code paths}. */
    static EnvoyArea area(AgentConfig config, ManualLoops loops, HostPaths paths) {
        AgentRuntime runtime = new AgentRuntime(loops.clock(), loops, new FileEvents(FileSystems.getDefault()),
                paths, CliRun.TEST_HOST);
        return new EnvoyArea(config, runtime, new IdentityHolder());
    }

    /** The Envoy settings of {@code config}. */
    static EnvoySettings settings(AgentConfig config) throws ConfigException {
        return area(config, new ManualLoops(new SteppingClock(T0)), HostPaths.system()).settings();
    }
}
