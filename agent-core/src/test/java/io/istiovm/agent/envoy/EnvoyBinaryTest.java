package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EnvoyBinaryTest {
    @TempDir
    Path dir;

    @Test
    void theDefaultFallsBackToUsrBinEnvoyWhereAPackageWouldPutIt() {
        EnvoySettings defaults = EnvoySettings.from(TestConfigs.load(dir, "# defaults\n"));
        assertThat(EnvoySupervisor.resolveBinary(defaults, p -> true)).isEqualTo(Path.of("/usr/local/bin/envoy"));
        assertThat(EnvoySupervisor.resolveBinary(defaults, p -> p.equals(Path.of("/usr/bin/envoy"))))
                .isEqualTo(Path.of("/usr/bin/envoy"));
        assertThatThrownBy(() -> EnvoySupervisor.resolveBinary(defaults, p -> false))
                .hasMessage("Envoy binary not found or not executable: /usr/local/bin/envoy (nor /usr/bin/envoy); "
                        + "set VM_AGENT_ENVOY_BINARY");
    }

    @Test
    void anExplicitBinaryHasNoFallback() {
        EnvoySettings explicit = EnvoySettings.from(TestConfigs.load(dir, "VM_AGENT_ENVOY_BINARY=/opt/envoy/bin/envoy\n"));
        assertThatThrownBy(() -> EnvoySupervisor.resolveBinary(explicit, p -> p.equals(Path.of("/usr/bin/envoy"))))
                .hasMessage("Envoy binary not found or not executable: /opt/envoy/bin/envoy; set VM_AGENT_ENVOY_BINARY");
    }
}
