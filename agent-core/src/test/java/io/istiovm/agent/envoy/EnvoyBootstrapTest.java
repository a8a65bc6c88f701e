package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Golden files: each directory under {@code src/test/resources/envoy/bootstrap} holds a cluster.env and the
 * bootstrap it must produce. Run with {@code -Dupdate.goldens=true} to rewrite them after a deliberate change.
 */
class EnvoyBootstrapTest {
    static final Path CASES = Path.of("src/test/resources/envoy/bootstrap");

    @TempDir
    Path dir;

    static Stream<String> cases() throws IOException {
        try (Stream<Path> list = Files.list(CASES)) {
            return list.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void matchesGoldenFile(String name) throws Exception {
        Path caseDir = CASES.resolve(name).toAbsolutePath();
        String env = Files.readString(caseDir.resolve("cluster.env")).replace("@CASE_DIR@", caseDir.toString());
        EnvoyBootstrap bootstrap = EnvoyBootstrap.plan(EnvoyAreas.settings(TestConfigs.inMemory(dir, env)));

        Path golden = caseDir.resolve("expected.json");
        if (Boolean.getBoolean("update.goldens")) {
            Files.writeString(golden, bootstrap.json());
        }
        assertThat(bootstrap.json()).isEqualTo(Files.readString(golden));
        // What the agent writes parses back to the same message: the golden file is itself a valid bootstrap.
        assertThat(EnvoyBootstrap.parse(bootstrap.json(), golden.toString()).proto()).isEqualTo(bootstrap.proto());
    }

    @Test
    void nodeIdFollowsIstiosKubernetesRegistryFormat() throws Exception {
        EnvoySettings settings = EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_NAMESPACE=bar\n"));
        assertThat(settings.nodeId()).isEqualTo("sidecar~10.0.0.5~vm1.bar~bar.svc.cluster.local");
        assertThat(settings.ipVersion()).isEqualTo("v4");
        assertThat(CliRun.TEST_HOST.shortHostName()).contains("vm1");
    }

    @Test
    void overrideWithAnUnknownFieldIsRejectedNamingTheFile() throws Exception {
        EnvoySettings settings = EnvoyAreas.settings(TestConfigs.inMemory(dir, "# defaults\n"));
        assertThatThrownBy(() -> EnvoyBootstrap.plan(settings,
                Optional.of(new EnvoyBootstrap.Override("/etc/istio/custom.json", "{\"admin\":{\"adress\":{}}}"))))
                .isInstanceOf(InvalidBootstrapException.class)
                .hasMessageStartingWith("/etc/istio/custom.json: not a valid envoy.config.bootstrap.v3.Bootstrap")
                .hasMessageContaining("adress");
    }

    @Test
    void typedConfigOfAnUnknownTypeIsRejected() {
        String json = "{\"static_resources\":{\"listeners\":[{\"name\":\"l\",\"filter_chains\":[{\"filters\":[{"
                + "\"name\":\"f\",\"typed_config\":{\"@type\":\"type.googleapis.com/envoy.extensions.filters."
                + "network.http_connection_manager.v3.HttpConectionManager\"}}]}]}]}}";
        assertThatThrownBy(() -> EnvoyBootstrap.parse(json, "custom.json"))
                .isInstanceOf(InvalidBootstrapException.class)
                .hasMessageContaining("HttpConectionManager");
    }

    @Test
    void typedConfigWithAFieldItsTypeDoesNotHaveIsRejected() {
        String json = "{\"static_resources\":{\"listeners\":[{\"name\":\"l\",\"filter_chains\":[{\"filters\":[{"
                + "\"name\":\"f\",\"typed_config\":{\"@type\":\"type.googleapis.com/envoy.extensions.filters."
                + "network.http_connection_manager.v3.HttpConnectionManager\",\"stat_prefx\":\"x\"}}]}]}]}}";
        assertThatThrownBy(() -> EnvoyBootstrap.parse(json, "custom.json"))
                .isInstanceOf(InvalidBootstrapException.class)
                .hasMessageContaining("stat_prefx");
    }

    @Test
    void malformedJsonIsAnInvalidBootstrapNotACrash() {
        assertThatThrownBy(() -> EnvoyBootstrap.parse("{\"node\": ", "broken.json"))
                .isInstanceOf(InvalidBootstrapException.class)
                .hasMessageStartingWith("broken.json: ");
    }

    @Test
    void digestChangesWithTheContentOnly() throws Exception {
        EnvoySettings a = EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_SERVICE=a\n"));
        EnvoySettings b = EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_SERVICE=b\n"));
        assertThat(EnvoyBootstrap.plan(a).digest()).isEqualTo(EnvoyBootstrap.plan(a).digest())
                .isNotEqualTo(EnvoyBootstrap.plan(b).digest());
    }
}
