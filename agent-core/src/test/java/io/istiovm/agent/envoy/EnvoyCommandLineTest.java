package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EnvoyCommandLineTest {
    @TempDir
    Path dir;

    @Test
    void istiosFlagsWithConcurrencyOnlyWhenSet() throws Exception {
        EnvoySettings settings = EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_SERVICE=httpbin.bar\n"
                + "ISTIO_NAMESPACE=bar\nVM_AGENT_ENVOY_DRAIN_TIME=30s\n"));
        List<String> args = EnvoyCommandLine.envoy(settings, Path.of("/usr/local/bin/envoy"),
                Path.of("/etc/istio/proxy/envoy-rev2.json"), 2);
        assertThat(args).containsExactly("/usr/local/bin/envoy", "-c", "/etc/istio/proxy/envoy-rev2.json",
                "--restart-epoch", "2", "--drain-time-s", "30", "--parent-shutdown-time-s", "60",
                "--service-cluster", "httpbin.bar", "--service-node", "sidecar~10.0.0.5~vm1.bar~bar.svc.cluster.local",
                "--local-address-ip-version", "v4", "--log-format", EnvoyCommandLine.LOG_FORMAT, "-l", "warning");

        EnvoySettings four = EnvoyAreas.settings(TestConfigs.inMemory(dir, "VM_AGENT_ENVOY_CONCURRENCY=4\n"
                + "VM_AGENT_ENVOY_LOG_LEVEL=debug\nISTIO_SVC_IP=fd00::5\n"));
        assertThat(String.join(" ", EnvoyCommandLine.envoy(four, Path.of("envoy"), Path.of("b.json"), 0)))
                .endsWith("--local-address-ip-version v6 --log-format " + EnvoyCommandLine.LOG_FORMAT
                        + " -l debug --concurrency 4");
    }

    @Test
    void setprivDropsToTheUserWithoutCapabilitiesAndDiesWithTheAgent() {
        assertThat(EnvoyCommandLine.asUser(new ProcessUser("istio-proxy", 998, 997), List.of("envoy", "-c", "x")))
                .containsExactly("setpriv", "--reuid=998", "--regid=997", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs", "--pdeathsig=SIGKILL", "--", "envoy", "-c", "x");
    }

    @Test
    void envoysLogLevelsMapOntoTheAgentsLog() {
        assertThat(EnvoyProcess.level("[2026-11-26 10:00:00.000][12][warning][config] x"))
                .isEqualTo(org.slf4j.event.Level.WARN);
        assertThat(EnvoyProcess.level("[2026-11-26 10:00:00.000][12][critical][main] x"))
                .isEqualTo(org.slf4j.event.Level.ERROR);
        assertThat(EnvoyProcess.level("[2026-11-26][1][debug][upstream] x"))
                .isEqualTo(org.slf4j.event.Level.DEBUG);
        assertThat(EnvoyProcess.level("plain text")).isEqualTo(org.slf4j.event.Level.WARN);
    }
}
