package io.istiovm.agent.netfilter;

import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.Assembly;
import io.istiovm.agent.assembly.HostPaths;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.OptionalLong;

/**
 * Capture settings and host facts for the netfilter tests: a cluster.env text held in memory (nothing written),
 * mapped to {@link CaptureSettings} through the assembly as the agent maps it.
 */
final class CaptureFixtures {
    /** Uid and gid of the proxy in the namespace tests (no such user needs to exist). */
    static final long PROXY_ID = 1337;
    /** Gid of the agent's own group in the namespace tests. */
    static final long AGENT_GID = 1338;
    /** An ordinary application user. */
    static final long APP_ID = 1000;
    /** Where the in-memory cluster.env claims to be; problems name it. */
    static final Path CONFIG_DIR = Path.of("/nonexistent/capture-test");

    private CaptureFixtures() {
    }

    /** {@code clusterEnv} ({@code KEY=value} lines) as capture settings. */
    /** A dual-stack seed configuration: the guide's, plus an IPv6 service range. */
    static final String DUAL_STACK = "ISTIO_SERVICE_CIDR=10.55.0.0/16,fd00:55::/64\nISTIO_INBOUND_PORTS=8888\n";

    /**
     * A bin directory of wrappers around the real tools of both backends, for {@link NetfilterTools#withBinDir}: the
     * restore of each family in {@code failing} ("iptables", "ip6tables") passes its {@code --test} run (when the
     * agent makes one: only for a script of several tables), then really
     * runs with a rule into a chain that does not exist inserted before its last COMMIT, and exits 1: the real run
     * fails part-way, so earlier tables may already be committed when it fails. Every other program is the real
     * one.
     */
    static Path failingRestoreDir(Path dir, Set<String> failing) throws IOException {
        Files.createDirectories(dir);
        for (String family : List.of("iptables", "ip6tables")) {
            for (String backend : List.of("nft", "legacy")) {
                for (String action : List.of("save", "restore")) {
                    String program = family + "-" + backend + "-" + action;
                    String body = failing.contains(family) && action.equals("restore")
                            ? "case \" $* \" in *\" --test \"*) exec " + program + " \"$@\";; esac\n"
                                + "sed '$ i -A NO_SUCH_CHAIN -j RETURN' | " + program + " \"$@\"\nexit 1\n"
                            : "exec " + program + " \"$@\"\n";
                    Path script = dir.resolve(program);
                    Files.writeString(script, "#!/bin/sh\n" + body);
                    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
                }
            }
        }
        return dir;
    }

    static CaptureSettings settings(String clusterEnv) {
        return settings(TestConfigs.inMemory(CONFIG_DIR, clusterEnv.isBlank() ? "# defaults\n" : clusterEnv));
    }

    /** A loaded configuration as capture settings, through the assembly. */
    static CaptureSettings settings(AgentConfig config) {
        SteppingClock clock = new SteppingClock(Instant.parse("2026-01-01T00:00:00Z"));
        AgentRuntime runtime = new AgentRuntime(clock, new ManualLoops(clock),
                new FileEvents(FileSystems.getDefault()), new HostPaths(CONFIG_DIR.resolve("etc"),
                        Path.of("/proc")), CliRun.TEST_HOST);
        return new Assembly(runtime).capture(config).settings();
    }

    /**
     * A capture component for {@code clusterEnv} on the test host: no sshd configuration (port 22), no passwd or
     * group under {@code scratch} (Istio's fallback uid and gid 1337), waiting for a component named "envoy".
     */
    static CaptureComponent component(String clusterEnv, Path scratch, NetfilterTools tools,
                                      CaptureComponent.ChangeEvents events) {
        CaptureSettings settings = settings(clusterEnv + "VM_AGENT_SSHD_CONFIG=" + scratch.resolve("no-sshd_config")
                + "\n");
        return component(settings, scratch, tools, events, HandedOutAddresses.NONE);
    }

    /** As above, from settings, with the hosts block's addresses from {@code handedOut}. */
    static CaptureComponent component(CaptureSettings settings, Path scratch, NetfilterTools tools,
                                      CaptureComponent.ChangeEvents events, HandedOutAddresses handedOut) {
        return new CaptureComponent(settings, scratch.resolve("no-etc"), tools, events, "envoy", handedOut);
    }

    static CaptureHost host(List<Integer> sshPorts) {
        return new CaptureHost(sshPorts, PROXY_ID, PROXY_ID, OptionalLong.of(AGENT_GID));
    }

    static CapturePlan plan(String clusterEnv) throws Exception {
        return CapturePlanner.plan(settings(clusterEnv), host(List.of(22)));
    }
}
