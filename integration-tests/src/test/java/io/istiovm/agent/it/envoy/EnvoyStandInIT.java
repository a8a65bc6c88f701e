package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.EnvoySettings;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The stand-in's own contract with the agent: flags and bootstrap validation behave as Envoy's do. */
class EnvoyStandInIT {
    private EnvoyStandInFixture standIn;
    private Path bootstrap;

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
        Path configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        EnvoySettings settings = EnvoySettings.from(TestConfigs.load(configDir, standIn.clusterEnv()));
        bootstrap = standIn.dir().resolve("proxy/envoy-rev0.json");
        Files.writeString(bootstrap, EnvoyBootstrap.plan(settings).json());
    }

    @AfterEach
    void remove() throws Exception {
        standIn.close();
    }

    private record Run(int exit, String output) {
    }

    private Run run(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(standIn.binary().toString()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(process.exitValue(), output);
    }

    @Test
    void validateModeAcceptsTheAgentsBootstrapAndRejectsAnUnknownField() throws Exception {
        Run ok = run("--mode", "validate", "-c", bootstrap.toString());
        assertThat(ok.exit()).as(ok.output()).isZero();
        assertThat(ok.output()).contains("configuration '" + bootstrap + "' OK");

        Path bad = standIn.dir().resolve("proxy/bad.json");
        Files.writeString(bad, Files.readString(bootstrap).replaceFirst("\"admin\": \\{", "\"admin\": {\"adress\": {},"));
        Run rejected = run("--mode", "validate", "-c", bad.toString());
        assertThat(rejected.exit()).isEqualTo(1);
        assertThat(rejected.output()).contains("error initializing configuration '" + bad + "'", "adress");
    }

    @Test
    void anUnknownFlagOrAMissingParentIsFatal() throws Exception {
        Run unknown = run("-c", bootstrap.toString(), "--no-such-flag");
        assertThat(unknown.exit()).isEqualTo(1);
        assertThat(unknown.output()).contains("PARSE ERROR", "--no-such-flag");

        Run orphan = run("-c", bootstrap.toString(), "--restart-epoch", "1", "-l", "info");
        assertThat(orphan.exit()).isEqualTo(1);
        assertThat(orphan.output()).contains("unable to connect to parent epoch 0");
    }
}
