package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.istiovm.agent.assembly.AgentRuntime;
import io.istiovm.agent.assembly.EnvoyArea;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The stand-in judges bootstraps on its own (Envoy's API descriptors and their validation rules, read apart from
 * the agent's parser): the agent's bootstrap for every golden configuration passes it, and a bootstrap that the
 * schema accepts but a rule forbids is refused, by the judge and by the stand-in's {@code --mode validate}.
 */
class StandInBootstrapValidatorIT {
    private static final Path CASES = Path.of("../agent-core/src/test/resources/envoy/bootstrap").toAbsolutePath()
            .normalize();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    static Stream<String> cases() throws IOException {
        try (Stream<Path> list = Files.list(CASES)) {
            return list.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    /** The bootstrap the agent generates (plans, merges, validates) for the golden case {@code name}. */
    private String agentBootstrap(String name) throws Exception {
        Path caseDir = CASES.resolve(name);
        String env = Files.readString(caseDir.resolve("cluster.env")).replace("@CASE_DIR@", caseDir.toString());
        EnvoyArea area = new EnvoyArea(TestConfigs.inMemory(dir, env), AgentRuntime.system(CliRun.TEST_HOST),
                new IdentityHolder());
        return area.bootstrap().json();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theAgentsBootstrapPassesTheIndependentJudge(String name) throws Exception {
        assertThat(StandInBootstrapValidator.problems(agentBootstrap(name))).isEmpty();
    }

    private List<String> problemsAfter(java.util.function.Consumer<ObjectNode> breakIt) throws Exception {
        ObjectNode bootstrap = (ObjectNode) JSON.readTree(agentBootstrap("seed-defaults"));
        breakIt.accept(bootstrap);
        return StandInBootstrapValidator.problems(bootstrap.toString());
    }

    private static ObjectNode xdsCluster(ObjectNode bootstrap) {
        return (ObjectNode) bootstrap.at("/static_resources/clusters/0");
    }

    @Test
    void ruleBreakingBootstrapsAreRefusedNamingFieldAndRule() throws Exception {
        assertThat(problemsAfter(b -> ((ObjectNode) xdsCluster(b).get("dns_failure_refresh_rate"))
                .remove("base_interval"))).containsExactly(
                "static_resources.clusters[0].dns_failure_refresh_rate.base_interval: is required");
        assertThat(problemsAfter(b -> xdsCluster(b).put("connect_timeout", "0s"))).containsExactly(
                "static_resources.clusters[0].connect_timeout: 0s is out of range (> 0)");
        assertThat(problemsAfter(b -> xdsCluster(b).put("name", ""))).containsExactly(
                "static_resources.clusters[0].name: shorter than 1 characters");
        assertThat(problemsAfter(b -> ((ObjectNode) b.at("/static_resources/listeners/0/address/socket_address"))
                .put("port_value", 70000))).containsExactly(
                "static_resources.listeners[0].address.socket_address.port_value: 70000 is out of range (<= 65535)");
        assertThat(problemsAfter(b -> ((ObjectNode) b.at("/static_resources/listeners/0")).putObject("address")))
                .containsExactly("static_resources.listeners[0].address.address: a member of the oneof is required");
        assertThat(problemsAfter(b -> ((ObjectNode) b.at(
                "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config")).put("stat_prefix", "")))
                .containsExactly("static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix:"
                        + " shorter than 1 characters");
        assertThat(problemsAfter(b -> xdsCluster(b).put("dns_lookup_family", "V6_FIRST"))).containsExactly(
                "static_resources.clusters[0].dns_lookup_family: 'V6_FIRST' is not a value of "
                        + "envoy.config.cluster.v3.Cluster.DnsLookupFamily");
        assertThat(problemsAfter(b -> ((ObjectNode) b.get("admin")).putObject("adress"))).containsExactly(
                "admin.adress: unknown field of envoy.config.bootstrap.v3.Admin");
    }

    @Test
    void validateModeRefusesWhatOnlyARuleForbids() throws Exception {
        try (EnvoyStandInFixture standIn = new EnvoyStandInFixture()) {
            ObjectNode bootstrap = (ObjectNode) JSON.readTree(agentBootstrap("seed-defaults"));
            xdsCluster(bootstrap).put("connect_timeout", "0s");
            Path bad = Files.createDirectories(standIn.dir().resolve("proxy")).resolve("zero-timeout.json");
            Files.writeString(bad, bootstrap.toString());
            Process process = new ProcessBuilder(standIn.binary().toString(), "--mode", "validate", "-c",
                    bad.toString()).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(process.exitValue()).as(output).isEqualTo(1);
            assertThat(output).contains("error initializing configuration '" + bad + "'",
                    "static_resources.clusters[0].connect_timeout: 0s is out of range (> 0)");
        }
    }
}
