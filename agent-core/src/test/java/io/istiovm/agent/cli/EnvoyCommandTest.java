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

    @Test
    void adminQueriesTheRunningEnvoysUnixSocketAndSaysWhenNothingAnswers() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "VM_AGENT_SDS_SOCKET=" + dir.resolve("run/sds/socket") + "\n");
        Path socket = Files.createDirectories(dir.resolve("run/envoy-admin/socket")).resolve("admin.sock");
        CliRun silent = CliRun.run("envoy", "admin", "/server_info", "--config-dir", dir.toString());
        assertThat(silent.exitCode()).isEqualTo(ExitCodes.UNAVAILABLE);
        assertThat(silent.err()).isEqualTo("error: Envoy's admin API at unix:" + socket
                + " did not answer (is the agent running?)\n");

        java.util.concurrent.CompletableFuture<String> asked = new java.util.concurrent.CompletableFuture<>();
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open(
                java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socket));
            Thread envoy = new Thread(() -> {
                try (java.nio.channels.SocketChannel client = server.accept()) {
                    java.nio.ByteBuffer request = java.nio.ByteBuffer.allocate(4096);
                    while (!new String(request.array(), 0, request.position(),
                            java.nio.charset.StandardCharsets.US_ASCII).contains("\r\n\r\n")) {
                        client.read(request);
                    }
                    asked.complete(new String(request.array(), 0, request.position(),
                            java.nio.charset.StandardCharsets.US_ASCII));
                    // Envoy's admin streams large answers chunked.
                    client.write(java.nio.ByteBuffer.wrap(("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                            + "transfer-encoding: chunked\r\n\r\n9\r\n{\"state\":\r\n7\r\n\"LIVE\"}\r\n0\r\n\r\n")
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
                } catch (java.io.IOException e) {
                    asked.completeExceptionally(e);
                }
            }, "fake-envoy-admin");
            envoy.start();
            CliRun run = CliRun.run("envoy", "admin", "/server_info", "--config-dir", dir.toString());
            envoy.join();
            assertThat(run.exitCode()).as(run.err()).isZero();
            assertThat(run.out()).isEqualTo("{\"state\":\"LIVE\"}");
            assertThat(asked.get()).startsWith("GET /server_info HTTP/1.1\r\n").contains("Connection: close\r\n");
        }
        assertThat(CliRun.run("envoy", "admin", "server info", "--config-dir", dir.toString()).exitCode())
                .isEqualTo(ExitCodes.USAGE);
    }
}
