package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.HostFacts;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/** Configurations and host facts for the netfilter tests, loaded through the real loader from a temp dir. */
final class TestConfigs {
    /** Uid and gid of the proxy in the namespace tests (no such user needs to exist). */
    static final long PROXY_ID = 1337;
    /** Gid of the agent's own group in the namespace tests. */
    static final long AGENT_GID = 1338;
    /** An ordinary application user. */
    static final long APP_ID = 1000;

    private TestConfigs() {
    }

    static AgentConfig load(Path dir, String clusterEnv) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("cluster.env"), clusterEnv, StandardCharsets.UTF_8);
        return new ConfigLoader(HostFacts.fixed("vm", List.of()))
                .load(ConfigFiles.inDirectory(dir), Map.of(), true).config();
    }

    static CaptureHost host(List<Integer> sshPorts) {
        return new CaptureHost(sshPorts, PROXY_ID, PROXY_ID, OptionalLong.of(AGENT_GID), false);
    }

    static CapturePlan plan(Path dir, String clusterEnv) throws Exception {
        return CapturePlanner.plan(load(dir, clusterEnv), host(List.of(22)));
    }
}
