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
                "--drain-strategy", "immediate", "--base-id", Integer.toString(settings.baseId()),
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
        assertThat(EnvoyCommandLine.asUser(new ProcessUser("istio-proxy", 998, 997), false,
                List.of("envoy", "-c", "x")))
                .containsExactly("setpriv", "--reuid=998", "--regid=997", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs", "--pdeathsig=SIGKILL", "--", "envoy", "-c", "x");
    }

    @Test
    void tproxyLeavesExactlyCapNetAdminAmbient() {
        assertThat(EnvoyCommandLine.asUser(new ProcessUser("istio-proxy", 998, 997), true, List.of("envoy")))
                .containsExactly("setpriv", "--reuid=998", "--regid=997", "--clear-groups",
                        "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin",
                        "--no-new-privs", "--pdeathsig=SIGKILL", "--", "envoy");
    }

    @Test
    void theInterceptionModeDecidesTheCapability() throws Exception {
        assertThat(EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\n"))
                .netAdmin()).isTrue();
        assertThat(EnvoyAreas.settings(TestConfigs.inMemory(dir, "ISTIO_INBOUND_INTERCEPTION_MODE=REDIRECT\n"))
                .netAdmin()).isFalse();
    }

    @Test
    void theBaseIdIsStablePerBootstrapDirectoryAndNeverEnvoysDefault() throws Exception {
        EnvoySettings a = EnvoyAreas.settings(TestConfigs.inMemory(dir, "VM_AGENT_ENVOY_CONFIG_DIR=/etc/istio/proxy\n"));
        EnvoySettings again = EnvoyAreas.settings(TestConfigs.inMemory(dir,
                "VM_AGENT_ENVOY_CONFIG_DIR=/etc/istio/proxy/\n"));
        EnvoySettings other = EnvoyAreas.settings(TestConfigs.inMemory(dir, "VM_AGENT_ENVOY_CONFIG_DIR=/etc/istio/p2\n"));
        assertThat(a.baseId()).isEqualTo(again.baseId()).isNotEqualTo(other.baseId()).isPositive();
        assertThat(10L * a.baseId()).isLessThan(Integer.MAX_VALUE);
        assertThat(EnvoySupervision.sharedMemoryName(a)).isEqualTo("envoy_shared_memory_" + 10L * a.baseId());
    }

    @Test
    void theAdminApiIsAUnixSocketUnlessTcpIsAskedFor() throws Exception {
        EnvoySettings socket = EnvoyAreas.settings(TestConfigs.inMemory(dir,
                "VM_AGENT_SDS_SOCKET=/var/run/secrets/workload-spiffe-uds/socket\n"));
        assertThat(socket.adminAddress()).isEqualTo(AdminAddress.socket(
                Path.of("/var/run/secrets/envoy-admin/socket/admin.sock")));
        EnvoySettings tcp = EnvoyAreas.settings(TestConfigs.inMemory(dir, "VM_AGENT_ENVOY_ADMIN_TCP=true\n"
                + "VM_AGENT_ENVOY_ADMIN_PORT=15999\n"));
        assertThat(tcp.adminAddress()).isEqualTo(AdminAddress.tcp(15999));
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
        // slf4j stops at ERROR; the journal's PRIORITY=2 comes from this.
        assertThat(EnvoyProcess.critical("[2026-11-26 10:00:00.000][12][critical][main] x")).isTrue();
        assertThat(EnvoyProcess.critical("[2026-11-26 10:00:00.000][12][error][main] critical x")).isFalse();
    }
}
