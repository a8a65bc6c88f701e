package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EnvoyCommandTest {
    @TempDir
    Path dir;

    @Test
    void bootstrapPrintsTheValidatedJson() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_SERVICE=httpbin.bar\nISTIO_NAMESPACE=bar\n");
        CliRun run = CliRun.run("envoy", "bootstrap", "--config-dir", dir.toString());
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).startsWith("{\n").contains(
                "\"id\": \"sidecar~10.0.0.5~vm1.bar~bar.svc.cluster.local\"", "\"name\": \"sds-grpc\"",
                "\"path\": \"/var/run/secrets/workload-spiffe-uds/socket\"");
    }

    @Test
    void anInvalidOverrideIsAConfigurationErrorNamingTheFile() throws Exception {
        Path override = dir.resolve("custom_bootstrap.json");
        Files.writeString(override, "{\"admin\": {\"adress\": {}}}");
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_BOOTSTRAP_OVERRIDE=" + override + "\n");
        CliRun run = CliRun.run("envoy", "bootstrap", "--config-dir", dir.toString());
        assertThat(run.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.out()).isEmpty();
        assertThat(run.err()).startsWith("error: " + override + ": not a valid envoy.config.bootstrap.v3.Bootstrap")
                .contains("adress");
    }

    @Test
    void aMissingEnvoyBinaryStopsRunAndItsDryRunAlikeAsAConfigurationErrorNamingTheLine() throws Exception {
        Path missing = dir.resolve("no-such-envoy");
        Files.writeString(dir.resolve("cluster.env"), "VM_AGENT_ENVOY_BINARY=" + missing + "\n");
        CliRun run = CliRun.run("run", "--dry-run", "--config-dir", dir.toString());
        assertThat(run.exitCode()).as(run.err()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.err()).contains("error: " + dir.resolve("cluster.env") + ":1: VM_AGENT_ENVOY_BINARY='"
                + missing + "': Envoy binary not found or not executable\n",
                "envoy: configuration is invalid: 1 error");
        assertThat(run.out()).as("the plans that could be made, and none for Envoy").contains("# sds\n")
                .doesNotContain("# envoy\n");
    }

    @Test
    void missingConfigurationAndMissingSubcommandHaveTheirOwnCodes() {
        assertThat(CliRun.run("envoy", "bootstrap", "--config-dir", dir.toString()).exitCode())
                .isEqualTo(ExitCodes.NO_INPUT);
        assertThat(CliRun.run("envoy").exitCode()).isEqualTo(ExitCodes.USAGE);
    }
}
