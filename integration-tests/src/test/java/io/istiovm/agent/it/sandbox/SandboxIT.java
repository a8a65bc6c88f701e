package io.istiovm.agent.it.sandbox;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.istiovm.agent.it.AgentProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README's main-job command, {@code ./istio-vm-agent sandbox}, as a user runs it (its {@code dev/sandbox}, on what
 * this build made instead of building again), judged by the report it writes: every step of the guide's scenario
 * held, with the evidence each step took from the parts' state.
 */
class SandboxIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> STEPS = List.of("network", "cluster", "vm", "configuration", "ready",
            "identity", "rotation", "hosts", "capture", "outbound", "inbound", "envoy", "readiness", "teardown");

    @TempDir
    Path tmp;

    @Test
    void theSandboxCommandRunsTheGuidesScenarioAndEveryStepHolds() throws Exception {
        Path repo = AgentProcess.repositoryRoot();
        Path report = tmp.resolve("report.json");
        Path output = repo.resolve("integration-tests/target/sandbox-it.log");
        List<String> command = new ArrayList<>(List.of("sh", repo.resolve("istio-vm-agent").toString(), "sandbox",
                "--report", report.toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(output.toFile());
        builder.environment().put("ISTIO_VM_AGENT_SANDBOX_BUILD", "no");
        Process sandbox = builder.start();
        boolean exited = sandbox.waitFor(5, TimeUnit.MINUTES);
        if (!exited) {
            sandbox.destroy();
            sandbox.waitFor(1, TimeUnit.MINUTES);
        }
        String printed = Files.readString(output);
        assertThat(exited).as(printed).isTrue();
        assertThat(sandbox.exitValue()).as(printed).isZero();

        JsonNode root = JSON.readTree(report.toFile());
        assertThat(root.path("ok").asBoolean()).as(printed).isTrue();
        List<String> names = new ArrayList<>();
        for (JsonNode step : root.path("steps")) {
            names.add(step.path("step").asText());
            assertThat(step.path("ok").asBoolean()).as(step.toString()).isTrue();
        }
        assertThat(names).isEqualTo(STEPS);
        assertThat(evidence(root, "hosts")).contains("127.255.0.3 httpbin.bar.global")
                .contains("httpbin.bar.global -> 127.255.0.3");
        assertThat(evidence(root, "rotation")).containsPattern("serial \\S+ -> \\S+");
        assertThat(evidence(root, "capture")).contains("--to-ports 15001").contains("--to-ports 15006");
        assertThat(evidence(root, "outbound")).contains("server: envoy")
                .contains("\"peer\": \"" + Sandbox.WORKLOAD + "\"")
                .contains("\"original_destination\": \"127.255.0.3:8000\"");
        assertThat(evidence(root, "inbound")).contains("hello from the vm's application");
        assertThat(evidence(root, "envoy")).contains("state LIVE, restart epoch 0");
        assertThat(evidence(root, "teardown")).contains("namespaces removed");
        // Every step is printed for the reader, numbered, with the verdict at the end.
        assertThat(printed).contains("== 1. ").contains("== 14. ").endsWith("sandbox: every step held\n");
    }

    private static String evidence(JsonNode root, String name) {
        for (JsonNode step : root.path("steps")) {
            if (step.path("step").asText().equals(name)) {
                return step.path("evidence").asText();
            }
        }
        throw new AssertionError("no step " + name);
    }
}
