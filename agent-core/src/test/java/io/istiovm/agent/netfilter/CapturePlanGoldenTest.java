package io.istiovm.agent.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigFiles;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.HostFacts;
import java.io.IOException;
import java.io.Reader;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One golden file per configuration: {@code src/test/resources/netfilter/golden/<case>/cluster.env} (plus an
 * optional {@code host.properties} overriding the fixed host facts) must plan exactly {@code plan.txt}.
 *
 * <p>To regenerate after a deliberate change, run
 * {@code mvn -pl agent-core test -Dtest=CapturePlanGoldenTest -Dupdate.goldens=true} and review the diff.
 */
class CapturePlanGoldenTest {
    static final Path GOLDEN = Path.of("src/test/resources/netfilter/golden");
    private static final boolean UPDATE = Boolean.getBoolean("update.goldens");

    static Stream<String> cases() throws IOException {
        try (Stream<Path> dirs = Files.list(GOLDEN)) {
            return dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void planMatchesGoldenFile(String name) throws Exception {
        Path dir = GOLDEN.resolve(name);
        AgentConfig config = new ConfigLoader(HostFacts.fixed("vm", List.of()))
                .load(ConfigFiles.inDirectory(dir), Map.of(), true).config();
        CaptureSettings settings = CaptureFixtures.settings(config).withHostsAddresses(
                hostsAddresses(dir.resolve("host.properties")));
        String plan = CapturePlanner.plan(settings, host(dir.resolve("host.properties"))).render();
        Path golden = dir.resolve("plan.txt");
        if (UPDATE) {
            Files.writeString(golden, plan, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file; regenerate with -Dupdate.goldens=true").exists();
        assertThat(plan).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @org.junit.jupiter.api.Test
    void thereAreAtLeastFourteenCases() throws IOException {
        assertThat(cases().count()).isGreaterThanOrEqualTo(14);
    }

    /** {@code hostsAddresses} of host.properties: the addresses of the hosts block (none by default). */
    static List<InetAddress> hostsAddresses(Path properties) throws IOException {
        String list = properties(properties).getProperty("hostsAddresses", "");
        List<InetAddress> addresses = new java.util.ArrayList<>();
        for (String item : list.split(",")) {
            if (!item.isBlank()) {
                addresses.add(InetAddress.getByName(item.trim()));
            }
        }
        return addresses;
    }

    private static Properties properties(Path file) throws IOException {
        Properties p = new Properties();
        if (Files.exists(file)) {
            try (Reader reader = Files.newBufferedReader(file)) {
                p.load(reader);
            }
        }
        return p;
    }

    /** The fixed host of the golden files (ssh 22, proxy 998/998, agent gid 997), overridable. */
    static CaptureHost host(Path properties) throws IOException {
        Properties p = properties(properties);
        String agentGid = p.getProperty("agentGid", "997");
        return new CaptureHost(
                Arrays.stream(p.getProperty("sshPorts", "22").split(",")).map(Integer::valueOf).toList(),
                Long.parseLong(p.getProperty("proxyUid", "998")), Long.parseLong(p.getProperty("proxyGid", "998")),
                agentGid.isEmpty() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(agentGid)));
    }
}
