package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Envoy's protoc-gen-validate rules (from the API descriptors) on every golden bootstrap and on override merges:
 * what {@code envoy --mode validate} would refuse is refused here, naming the field and the rule.
 */
class ValidationRulesTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @MethodSource("io.istiovm.agent.envoy.EnvoyBootstrapTest#cases")
    void everyGoldenPassesEnvoysRules(String name) throws Exception {
        Path golden = EnvoyBootstrapTest.CASES.resolve(name).resolve("expected.json");
        Bootstrap bootstrap = BootstrapSchema.parse(Files.readString(golden), golden.toString());
        assertThat(ValidationRules.violations(bootstrap, BootstrapSchema.TYPES)).isEmpty();
    }

    private List<String> violations(String json) throws Exception {
        return ValidationRules.violations(BootstrapSchema.parse(json, "test.json"), BootstrapSchema.TYPES);
    }

    private static String cluster(String fields) {
        return "{\"static_resources\":{\"clusters\":[{\"name\":\"c\",\"connect_timeout\":\"1s\"" + fields + "}]}}";
    }

    @Test
    void durationBounds() throws Exception {
        assertThat(violations(cluster(",\"connect_timeout\":\"0s\"")))
                .containsExactly("static_resources.clusters[0].connect_timeout: value 0s must be greater than 0s");
        assertThat(violations(cluster(",\"dns_refresh_rate\":\"0.0005s\""))).containsExactly(
                "static_resources.clusters[0].dns_refresh_rate: value 0.0005s must be greater than 0.001s");
    }

    @Test
    void requiredMessageInsideARefreshRate() throws Exception {
        assertThat(violations(cluster(",\"dns_failure_refresh_rate\":{\"max_interval\":\"10s\"}"))).containsExactly(
                "static_resources.clusters[0].dns_failure_refresh_rate.base_interval: value is required");
    }

    @Test
    void stringLengthAndEnumDefinedOnly() throws Exception {
        assertThat(violations("{\"static_resources\":{\"clusters\":[{\"name\":\"\",\"connect_timeout\":\"1s\","
                + "\"lb_policy\":77}]}}")).containsExactlyInAnyOrder(
                "static_resources.clusters[0].name: value length must be at least 1 characters",
                "static_resources.clusters[0].lb_policy: value 77 must be one of the defined enum values");
    }

    @Test
    void portAboveTheRangeAndARequiredOneof() throws Exception {
        String address = "{\"static_resources\":{\"listeners\":[{\"name\":\"l\",\"address\":%s}]}}";
        assertThat(violations(String.format(address,
                "{\"socket_address\":{\"address\":\"0.0.0.0\",\"port_value\":70000}}"))).containsExactly(
                "static_resources.listeners[0].address.socket_address.port_value: value 70000 must be less than or "
                        + "equal to 65535");
        assertThat(violations(String.format(address, "{}"))).containsExactly(
                "static_resources.listeners[0].address.address: one of [socket_address, pipe, envoy_internal_address]"
                        + " is required");
    }

    @Test
    void typedConfigIsCheckedInside() throws Exception {
        String json = "{\"static_resources\":{\"listeners\":[{\"name\":\"l\",\"address\":{\"socket_address\":{"
                + "\"address\":\"0.0.0.0\",\"port_value\":1}},\"filter_chains\":[{\"filters\":[{\"name\":\"f\","
                + "\"typed_config\":{\"@type\":\"type.googleapis.com/envoy.extensions.filters.network."
                + "http_connection_manager.v3.HttpConnectionManager\",\"stat_prefix\":\"\",\"route_config\":{}}}]}]}]}}";
        assertThat(violations(json)).containsExactly("static_resources.listeners[0].filter_chains[0].filters[0]"
                + ".typed_config.stat_prefix: value length must be at least 1 characters");
    }

    @Test
    void anOverrideWhoseMergeBreaksARuleIsRefusedNamingTheFile() throws Exception {
        EnvoySettings settings = EnvoyAreas.settings(TestConfigs.inMemory(dir, "# defaults\n"));
        String override = "{\"static_resources\":{\"clusters\":[{\"name\":\"extra\",\"connect_timeout\":\"0s\"}]}}";
        assertThatThrownBy(() -> EnvoyBootstrap.plan(settings,
                Optional.of(new EnvoyBootstrap.Override("/etc/istio/custom.json", override))))
                .isInstanceOf(InvalidBootstrapException.class)
                .hasMessage("/etc/istio/custom.json merged into the generated bootstrap: breaks Envoy's validation "
                        + "rules: static_resources.clusters[4].connect_timeout: value 0s must be greater than 0s");
    }

    @Test
    void anOverrideThatOnlyBecomesValidMergedIsAccepted() throws Exception {
        // Alone, an admin without its address would still be valid; a merged address completes the generated one
        // (admin on TCP: the default unix socket has no socket_address to complete).
        EnvoySettings settings = EnvoyAreas.settings(TestConfigs.inMemory(dir, "VM_AGENT_ENVOY_ADMIN_TCP=true\n"));
        String override = "{\"admin\":{\"address\":{\"socket_address\":{\"port_value\":15001}}}}";
        Bootstrap merged = EnvoyBootstrap.plan(settings,
                Optional.of(new EnvoyBootstrap.Override("custom.json", override))).proto();
        assertThat(merged.getAdmin().getAddress().getSocketAddress().getAddress()).isEqualTo("127.0.0.1");
        assertThat(ValidationRules.violations(merged, BootstrapSchema.TYPES)).isEmpty();
    }
}
