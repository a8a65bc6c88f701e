package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.istiovm.agent.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CliTest {
    @TempDir
    Path dir;

    @Test
    void versionNamesTheAgentAndItsVersion() {
        CliRun run = CliRun.run("version");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).matches("istio-vm-agent \\d+\\.\\d+\\.\\d+(-SNAPSHOT)? \\(Java .+\\)\n");
        assertThat(CliRun.run("--version").out()).isEqualTo(run.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"run", "check", "version", "config-table", "generate-completion"})
    void everyCommandHasHelp(String command) {
        CliRun run = CliRun.run(command, "--help");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).startsWith("Usage: istio-vm-agent " + command);
        if (command.equals("run") || command.equals("check")) {
            assertThat(run.out()).contains("--config-dir=DIR");
        }
    }

    @Test
    void rootHelpListsCommandsAndExitCodes() {
        CliRun run = CliRun.run("--help");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("run", "check", "version", "generate-completion", "78  invalid configuration");
    }

    @Test
    void completionScriptIsGenerated() {
        CliRun run = CliRun.run("generate-completion");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("complete -F", "istio-vm-agent");
    }

    @Test
    void usageErrorsExitWith64() {
        assertThat(CliRun.run("frobnicate").exitCode()).isEqualTo(ExitCodes.USAGE);
        assertThat(CliRun.run("check", "--no-such-flag").exitCode()).isEqualTo(ExitCodes.USAGE);
        assertThat(CliRun.run("check", "--output", "yaml").exitCode()).isEqualTo(ExitCodes.USAGE);
        assertThat(CliRun.run().exitCode()).isEqualTo(ExitCodes.USAGE);
    }

    @Test
    void checkAsJsonCarriesValuesSourcesAndWarnings() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_INBOUND_PORTS=8888\nISTIO_INBOUND_EXCLUDE_PORTS=22\n");
        CliRun run = CliRun.run(Map.of("ISTIO_SERVICE", "httpbin.bar"), "check", "--config-dir", dir.toString(),
                "--output", "json");
        assertThat(run.exitCode()).isZero();
        JsonNode root = new ObjectMapper().readTree(run.out());
        assertThat(root.get("clusterEnv").asText()).isEqualTo(dir.resolve("cluster.env").toString());
        JsonNode inbound = find(root, "ISTIO_INBOUND_PORTS");
        assertThat(inbound.get("value").asText()).isEqualTo("8888");
        assertThat(inbound.get("source").asText()).isEqualTo("cluster.env:1");
        assertThat(find(root, "ISTIO_SERVICE").get("source").asText()).isEqualTo("environment");
        assertThat(find(root, "ISTIO_BIN_BASE").get("effective").asBoolean()).isFalse();
        assertThat(find(root, "ISTIO_CA").get("value").isNull()).isTrue();
        assertThat(root.get("warnings")).hasSize(1);
    }

    @Test
    void checkAsPropertiesRoundTripsThroughJavaProperties() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_INBOUND_PORTS=8888\nISTIO_META_OWNER='team a=b'\n");
        CliRun run = CliRun.run("check", "--config-dir", dir.toString(), "--output", "properties");
        assertThat(run.exitCode()).isZero();
        java.util.Properties properties = new java.util.Properties();
        properties.load(new java.io.StringReader(run.out()));
        assertThat(properties.getProperty("ISTIO_INBOUND_PORTS")).isEqualTo("8888");
        assertThat(properties.getProperty("ISTIO_META_OWNER")).isEqualTo("team a=b");
        assertThat(properties.getProperty("PILOT_ADDRESS")).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(properties.getProperty("ISTIO_CA")).isNull();
    }

    @Test
    void strictTurnsWarningsIntoAConfigurationError() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_INBOUND_EXCLUDE_PORTS=22\n");
        assertThat(CliRun.run("check", "--config-dir", dir.toString()).exitCode()).isZero();
        CliRun strict = CliRun.run("check", "--strict", "--config-dir", dir.toString());
        assertThat(strict.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(strict.err()).endsWith("configuration has 1 warning(s) and --strict is set\n");
    }

    @Test
    void runRefusesInvalidConfigurationBeforeDoingAnything() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ENVOY_PORT=0\n");
        CliRun run = CliRun.run("run", "--config-dir", dir.toString());
        assertThat(run.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.err()).startsWith("error: " + dir.resolve("cluster.env") + ":1: ENVOY_PORT='0'");
    }

    @Test
    void runDryRunPreparesAsRunDoesAndExitsWithItsCode() throws Exception {
        // An executable in Envoy's place: without one, the missing binary (78) would outrank the identity (65).
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_INBOUND_PORTS=8888\nPROV_CERT=" + dir.resolve("certs")
                + "\nOUTPUT_CERTS=" + dir.resolve("certs") + "\nVM_AGENT_ENVOY_BINARY=/bin/sh\n");
        CliRun run = CliRun.run("run", "--dry-run", "--config-dir", dir.toString());
        assertThat(run.exitCode()).as(run.err()).isEqualTo(ExitCodes.DATA);
        assertThat(run.err()).contains("error: identity: " + dir.resolve("certs"));
    }

    @Test
    void configTablePrintsTheRegistry() {
        CliRun run = CliRun.run("config-table");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("| `ISTIO_SERVICE_CIDR` | CIDR list or * | (empty) | 1.4 |");
    }

    private static JsonNode find(JsonNode root, String name) {
        for (JsonNode key : root.get("keys")) {
            if (key.get("name").asText().equals(name)) {
                return key;
            }
        }
        throw new AssertionError("no key " + name);
    }
}
