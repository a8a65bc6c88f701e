package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.istiovm.agent.cli.ExitCodes;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node metadata istiod reads (Istio 1.8's pilot/pkg/model NodeMetadata): the names, and the JSON shapes its
 * decoder demands (ports are numbers, PROXY_CONFIG an object, LABELS a map of strings).
 */
class NodeMetadataTest {
    @TempDir
    Path dir;

    private Struct metadata(String clusterEnv) throws Exception {
        return EnvoyBootstrap.plan(EnvoyAreas.settings(TestConfigs.inMemory(dir, clusterEnv))).proto().getNode()
                .getMetadata();
    }

    @Test
    void announcesWhatPilotAgentAnnounces() throws Exception {
        Struct m = metadata("ISTIO_INBOUND_INTERCEPTION_MODE=TPROXY\nSERVICE_ACCOUNT=reviews\n"
                + "ENVOY_STATUS_PORT=16021\n");
        assertThat(m.getFieldsOrThrow("ISTIO_VERSION").getStringValue()).isEqualTo("1.8.0");
        assertThat(m.getFieldsOrThrow("SERVICE_ACCOUNT").getStringValue()).isEqualTo("reviews");
        assertThat(m.getFieldsOrThrow("INTERCEPTION_MODE").getStringValue()).isEqualTo("TPROXY");
        assertThat(m.getFieldsOrThrow("ENVOY_STATUS_PORT").getKindCase()).isEqualTo(Value.KindCase.NUMBER_VALUE);
        assertThat(m.getFieldsOrThrow("ENVOY_STATUS_PORT").getNumberValue()).isEqualTo(16021);
        assertThat(m.getFieldsOrThrow("ENVOY_PROMETHEUS_PORT").getNumberValue()).isEqualTo(15090);
        Struct proxyConfig = m.getFieldsOrThrow("PROXY_CONFIG").getStructValue();
        assertThat(proxyConfig.getFieldsOrThrow("statusPort").getNumberValue()).isEqualTo(15020);
        assertThat(proxyConfig.getFieldsOrThrow("interceptionMode").getStringValue()).isEqualTo("TPROXY");
        assertThat(proxyConfig.getFieldsOrThrow("discoveryAddress").getStringValue())
                .isEqualTo("istiod.istio-system.svc:15012");
        assertThat(proxyConfig.getFieldsOrThrow("drainDuration").getStringValue()).isEqualTo("45s");
    }

    @Test
    void theIstioVersionIsConfigurable() throws Exception {
        assertThat(metadata("ISTIO_META_ISTIO_VERSION=1.9.2\n").getFieldsOrThrow("ISTIO_VERSION").getStringValue())
                .isEqualTo("1.9.2");
    }

    @Test
    void aLabelThatIsNotAStringIsAConfigurationErrorNamingFileAndLine() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_SERVICE=reviews\n"
                + "ISTIO_METAJSON_LABELS='{\"app\":\"reviews\",\"port\":9080}'\n");
        CliRun run = CliRun.run("envoy", "bootstrap", "--config-dir", dir.toString());
        assertThat(run.exitCode()).as(run.toString()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.err()).contains("error: " + dir.resolve("cluster.env") + ":2: ISTIO_METAJSON_LABELS=",
                "value of \"port\" is 9080, not a string");
        assertThat(run.out()).isEmpty();
    }

    @Test
    void everyMetajsonKeyIsAMapOfStrings() throws Exception {
        Files.writeString(dir.resolve("cluster.env"), "ISTIO_METAJSON_ANNOTATIONS='{\"a\":{\"b\":\"c\"}}'\n");
        CliRun run = CliRun.run("envoy", "bootstrap", "--config-dir", dir.toString());
        assertThat(run.exitCode()).as(run.toString()).isEqualTo(ExitCodes.CONFIG);
        assertThat(run.err()).contains(dir.resolve("cluster.env") + ":1: ISTIO_METAJSON_ANNOTATIONS=",
                "value of \"a\" is {\"b\":\"c\"}, not a string");
    }
}
