package io.istiovm.agent.assembly;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.systemd.NotifySettings;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The notifier's bounds follow the deadlines of the steps they bound (README, "systemd"). */
class NotifySettingsTest {
    @TempDir
    Path dir;

    private NotifySettings settings(Map<String, String> values) {
        return new Assembly(AgentRuntime.system(CliRun.TEST_HOST)).notifySettings(TestConfigs.inMemory(dir, values));
    }

    @Test
    void withTheDefaults() {
        NotifySettings settings = settings(Map.of());
        assertThat(settings.staleAfter("identity")).isEqualTo(Duration.ofSeconds(75));
        assertThat(settings.staleAfter("envoy")).isEqualTo(Duration.ofSeconds(35));
        assertThat(settings.staleAfter("capture")).isEqualTo(Duration.ofSeconds(615));
        assertThat(settings.staleAfter("hosts")).isEqualTo(Duration.ofSeconds(25));
        assertThat(settings.startBound()).isEqualTo(Duration.ofSeconds(110));
        assertThat(settings.stopBound()).isEqualTo(Duration.ofSeconds(30));
    }

    @Test
    void longerDeadlinesGiveLongerBounds() {
        NotifySettings settings = settings(Map.of("VM_AGENT_CA_TIMEOUT", "5m", "VM_AGENT_ENVOY_STOP_TIMEOUT", "1m",
                "TERMINATION_DRAIN_DURATION", "10m"));
        assertThat(settings.staleAfter("identity")).isEqualTo(Duration.ofMinutes(10).plusSeconds(15));
        assertThat(settings.staleAfter("envoy")).isEqualTo(Duration.ofSeconds(75));
        assertThat(settings.startBound()).isEqualTo(Duration.ofMinutes(10).plusSeconds(50));
        assertThat(settings.stopBound()).isEqualTo(Duration.ofMinutes(11).plusSeconds(15));
    }
}
