package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EnvoyBinaryTest {
    @TempDir
    Path dir;

    @Test
    void theDefaultFallsBackToUsrBinEnvoyWhereAPackageWouldPutIt() throws Exception {
        EnvoySettings defaults = EnvoyAreas.settings(TestConfigs.inMemory(dir, Map.of()));
        assertThat(EnvoySupervisor.resolveBinary(defaults, p -> true)).isEqualTo(Path.of("/usr/local/bin/envoy"));
        assertThat(EnvoySupervisor.resolveBinary(defaults, p -> p.equals(Path.of("/usr/bin/envoy"))))
                .isEqualTo(Path.of("/usr/bin/envoy"));
        assertThatThrownBy(() -> EnvoySupervisor.resolveBinary(defaults, p -> false))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
                        .containsExactly(ConfigProblem.error(Source.DEFAULT, "VM_AGENT_ENVOY_BINARY",
                                "/usr/local/bin/envoy",
                                "Envoy binary not found or not executable (nor /usr/bin/envoy)")));
    }

    @Test
    void anExplicitBinaryHasNoFallbackAndTheErrorNamesWhereItWasSet() throws Exception {
        EnvoySettings explicit = EnvoyAreas.settings(TestConfigs.inMemory(dir,
                "# the operator's choice\nVM_AGENT_ENVOY_BINARY=/opt/envoy/bin/envoy\n"));
        assertThatThrownBy(() -> EnvoySupervisor.resolveBinary(explicit, p -> p.equals(Path.of("/usr/bin/envoy"))))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                        .satisfies(problem -> assertThat(problem.render()).isEqualTo("error: "
                                + dir.resolve("cluster.env") + ":2: VM_AGENT_ENVOY_BINARY='/opt/envoy/bin/envoy': "
                                + "Envoy binary not found or not executable")));
    }
}
