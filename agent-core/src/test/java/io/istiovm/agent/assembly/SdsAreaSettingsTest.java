package io.istiovm.agent.assembly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.sds.SdsSettings;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SDS settings the assembly builds: Envoy's uid served, the file directories, the socket path's limit. */
class SdsAreaSettingsTest {
    @TempDir
    Path dir;

    private SdsSettings settings(Map<String, String> values) throws Exception {
        return new EnvoyArea(TestConfigs.inMemory(dir, values), AgentRuntime.system(CliRun.TEST_HOST),
                new IdentityHolder()).sdsSettings();
    }

    @Test
    void envoysUidAndTheDefaultFileDirectoriesAndTheOsBundles() throws Exception {
        SdsSettings settings = settings(Map.of("ENVOY_USER", "4242"));
        assertThat(settings.envoyUid()).isEqualTo(4242);
        assertThat(settings.fileDirectories()).contains(Path.of("/etc/certs"), Path.of("/etc/ssl/certs"))
                .doesNotContain(Path.of("/etc/ssl/private"), Path.of("/etc/pki/tls/private"));
        assertThat(settings.osTrustBundles().get(0)).isEqualTo(Path.of("/etc/ssl/certs/ca-certificates.crt"));
    }

    @Test
    void aRelativeFileDirectoryIsAConfigurationError() {
        assertThatThrownBy(() -> settings(Map.of("ENVOY_USER", "4242", "VM_AGENT_SDS_FILE_DIRS", "/etc/certs certs")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("VM_AGENT_SDS_FILE_DIRS").hasMessageContaining("'certs' is not an absolute path");
    }

    @Test
    void aSocketPathLongerThanAUnixSocketHoldsIsAConfigurationError() throws Exception {
        String deep = "/" + "d".repeat(100) + "/socket";
        assertThat(deep).hasSize(108);
        assertThatThrownBy(() -> settings(Map.of("ENVOY_USER", "4242", "VM_AGENT_SDS_SOCKET", deep)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("VM_AGENT_SDS_SOCKET").hasMessageContaining("at most 107");
        String fits = "/" + "d".repeat(99) + "/socket";
        assertThat(fits).hasSize(107);
        assertThat(settings(Map.of("ENVOY_USER", "4242", "VM_AGENT_SDS_SOCKET", fits)).socket())
                .isEqualTo(Path.of(fits));
    }
}
