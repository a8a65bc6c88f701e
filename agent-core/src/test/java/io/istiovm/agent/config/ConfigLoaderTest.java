package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.CliRun;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @TempDir
    Path dir;

    private ConfigLoader.Result load(Map<String, String> env) throws ConfigException {
        return new ConfigLoader(CliRun.TEST_HOST).load(ConfigFiles.inDirectory(dir), env, true);
    }

    private void write(String name, String text) throws IOException {
        Files.writeString(dir.resolve(name), text);
    }

    @Test
    void laterSourcesWinAndEachValueKnowsItsSource() throws Exception {
        write("sidecar.env", "ENVOY_PORT=15101\nISTIO_INBOUND_PORTS=80\nISTIO_SERVICE=from-sidecar\n");
        write("cluster.env", "# cluster\nISTIO_INBOUND_PORTS=8080\nISTIO_SERVICE=from-cluster\n");
        AgentConfig config = load(Map.of("ISTIO_SERVICE", "from-env", "PATH", "/usr/bin")).config();

        assertThat(config.get(ConfigKeys.ENVOY_PORT)).isEqualTo(15101);
        assertThat(config.source(ConfigKeys.ENVOY_PORT).label()).isEqualTo("sidecar.env:1");
        assertThat(config.get(ConfigKeys.ISTIO_INBOUND_PORTS).ports()).containsExactly(8080);
        assertThat(config.source(ConfigKeys.ISTIO_INBOUND_PORTS).label()).isEqualTo("cluster.env:2");
        assertThat(config.get(ConfigKeys.ISTIO_SERVICE)).isEqualTo("from-env");
        assertThat(config.source(ConfigKeys.ISTIO_SERVICE)).isEqualTo(Source.ENVIRONMENT);
        assertThat(config.get(ConfigKeys.INBOUND_CAPTURE_PORT)).isEqualTo(15006);
        assertThat(config.source(ConfigKeys.INBOUND_CAPTURE_PORT)).isEqualTo(Source.DEFAULT);
        assertThat(config.entries()).filteredOn(e -> e.name().equals("ISTIO_INBOUND_PORTS")).singleElement()
                .satisfies(e -> assertThat(e.overrides().label()).isEqualTo("sidecar.env:2"));
        assertThat(config.entries()).noneMatch(e -> e.name().equals("PATH"));
    }

    @Test
    void derivedDefaultsFollowTheKeysTheyDependOn() throws Exception {
        write("cluster.env", "ISTIO_SYSTEM_NAMESPACE=mesh-cp\nISTIO_PILOT_PORT=15011\nISTIO_SERVICE=httpbin.bar\n");
        AgentConfig config = load(Map.of()).config();
        assertThat(config.get(ConfigKeys.PILOT_ADDRESS)).isEqualTo(new HostPort("istiod.mesh-cp.svc", 15011));
        assertThat(config.get(ConfigKeys.CA_ADDR)).isEqualTo(new HostPort("istiod.mesh-cp.svc", 15011));
        assertThat(config.get(ConfigKeys.ISTIOD_SAN)).isEqualTo("istiod.mesh-cp.svc");
        assertThat(config.get(ConfigKeys.CANONICAL_SERVICE)).isEqualTo("httpbin");
        assertThat(config.get(ConfigKeys.ISTIO_SVC_IP)).isEqualTo(InetAddress.getByName("10.0.0.5"));
        assertThat(config.get(ConfigKeys.POD_NAME)).isEqualTo("vm1");
        assertThat(config.get(ConfigKeys.OUTPUT_CERTS)).isEqualTo(Path.of("/etc/certs"));
        assertThat(config.find(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS)).isEmpty();
    }

    @Test
    void istio15CaNameIsHonouredWhenCaAddrIsUnset() throws Exception {
        write("cluster.env", "ISTIO_CA=ca.example:15012\n");
        assertThat(load(Map.of()).config().get(ConfigKeys.CA_ADDR)).isEqualTo(new HostPort("ca.example", 15012));
    }

    @Test
    void hostWithoutAddressesLeavesTheInstanceIpUnset() throws Exception {
        write("cluster.env", "# defaults\n");
        AgentConfig config = new ConfigLoader(HostFacts.fixed(null, java.util.List.of()))
                .load(ConfigFiles.inDirectory(dir), Map.of(), true).config();
        assertThat(config.find(ConfigKeys.ISTIO_SVC_IP)).isEmpty();
        assertThat(config.find(ConfigKeys.POD_NAME)).isEmpty();
    }

    @Test
    void nodeMetadataFromBothFamilies() throws Exception {
        write("cluster.env", """
                ISTIO_META_NETWORK=vm-network
                ISTIO_META_CUSTOM_THING='a b'
                ISTIO_METAJSON_LABELS='{"app":"httpbin","version":"v1"}'
                """);
        var metadata = load(Map.of("ISTIO_META_FROM_ENV", "yes")).config().nodeMetadata();
        assertThat(metadata.get("NETWORK").asText()).isEqualTo("vm-network");
        assertThat(metadata.get("CUSTOM_THING").asText()).isEqualTo("a b");
        assertThat(metadata.get("LABELS").get("version").asText()).isEqualTo("v1");
        assertThat(metadata.get("FROM_ENV").asText()).isEqualTo("yes");
        assertThat(metadata.get("CLUSTER_ID").asText()).isEqualTo("Kubernetes");
    }

    @Test
    void everyErrorIsReportedAtOnceInFileOrder() throws Exception {
        write("sidecar.env", "ENVOY_PORT=0\n");
        write("cluster.env", "SECRET_TTL=1d\nISTIO_INBOUND_PORTS=*,22\nA=b c\n");
        assertThatThrownBy(() -> load(Map.of("INBOUND_CAPTURE_PORT", "x"))).isInstanceOfSatisfying(
                ConfigException.class, e -> assertThat(e.errors()).extracting(ConfigProblem::render).containsExactly(
                        "error: " + dir.resolve("sidecar.env") + ":1: ENVOY_PORT='0': port 0 is out of range (1-65535)",
                        "error: " + dir.resolve("cluster.env") + ":1: SECRET_TTL='1d': '1d': days are not a unit here;"
                                + " write 24h",
                        "error: " + dir.resolve("cluster.env") + ":2: ISTIO_INBOUND_PORTS='*,22': '*' cannot be "
                                + "combined with other ports",
                        "error: " + dir.resolve("cluster.env") + ":3: A: unquoted space in the value: the shell would "
                                + "run 'c' as a command; quote the whole value",
                        "error: environment: INBOUND_CAPTURE_PORT='x': 'x' is not a port number"));
    }

    @Test
    void aRestartBackoffCapBelowItsStartIsBlamedOnTheKeyTheOperatorSet() throws Exception {
        write("cluster.env", "VM_AGENT_ENVOY_RESTART_BACKOFF=2s\nVM_AGENT_ENVOY_RESTART_BACKOFF_MAX=1s\n");
        assertThatThrownBy(() -> load(Map.of())).isInstanceOfSatisfying(ConfigException.class, e -> assertThat(
                e.errors()).extracting(ConfigProblem::render).containsExactly("error: " + dir.resolve("cluster.env")
                + ":2: VM_AGENT_ENVOY_RESTART_BACKOFF_MAX='1s': is shorter than VM_AGENT_ENVOY_RESTART_BACKOFF,"
                + " the first delay it caps"));

        write("cluster.env", "VM_AGENT_ENVOY_RESTART_BACKOFF=1m\n");
        assertThatThrownBy(() -> load(Map.of())).as("the cap is the default 30s").isInstanceOfSatisfying(
                ConfigException.class, e -> assertThat(e.errors()).extracting(ConfigProblem::render).containsExactly(
                        "error: " + dir.resolve("cluster.env") + ":1: VM_AGENT_ENVOY_RESTART_BACKOFF='1m': is longer"
                                + " than VM_AGENT_ENVOY_RESTART_BACKOFF_MAX, the cap of the crash-restart delay"));
    }

    @Test
    void unknownKeysWarnWithTheNearestKnownKey() throws Exception {
        write("cluster.env", "ISTIO_INBOUND_EXCLUDE_PORTS=22\nISTIO_SERVICE_CDIR=10.0.0.0/8\nistio_cp_auth=NONE\n"
                + "TOTALLY_UNRELATED=1\n");
        assertThat(load(Map.of()).warnings()).extracting(ConfigProblem::reason).containsExactly(
                "unknown key, ignored; did you mean ISTIO_LOCAL_EXCLUDE_PORTS?",
                "unknown key, ignored; did you mean ISTIO_SERVICE_CIDR?",
                "unknown key, ignored; did you mean ISTIO_CP_AUTH?",
                "unknown key, ignored");
    }

    @Test
    void missingClusterEnvIsItsOwnFailure() {
        assertThatThrownBy(() -> load(Map.of())).isInstanceOfSatisfying(ConfigException.class, e -> {
            assertThat(e.inputMissing()).isTrue();
            assertThat(e.errors()).extracting(ConfigProblem::render).containsExactly("error: "
                    + dir.resolve("cluster.env") + ": not found; cluster.env is required (set ISTIO_CLUSTER_CONFIG "
                    + "or --config-dir to read another)");
        });
    }

    @Test
    void fileLocationsComeFromTheEnvironmentUnlessAFlagGivesADirectory() {
        Map<String, String> env = Map.of("ISTIO_CLUSTER_CONFIG", "/srv/istio/cluster.env");
        ConfigFiles fromEnv = ConfigFiles.resolve(null, env);
        assertThat(fromEnv.clusterEnv()).isEqualTo(Path.of("/srv/istio/cluster.env"));
        assertThat(fromEnv.sidecarEnv()).isEqualTo(Path.of("/var/lib/istio/envoy/sidecar.env"));
        assertThat(fromEnv.directory()).isEqualTo(Path.of("/srv/istio"));
        assertThat(ConfigFiles.resolve(Path.of("/tmp/x"), env).clusterEnv()).isEqualTo(Path.of("/tmp/x/cluster.env"));
        assertThat(ConfigFiles.resolve(null, Map.of()).clusterEnv())
                .isEqualTo(Path.of("/var/lib/istio/envoy/cluster.env"));
    }

    @Test
    void registryIsConsistent() {
        for (ConfigKey<?> key : ConfigKeys.all()) {
            assertThat(ConfigKeys.byName(key.name())).contains(key);
            assertThat(key.meaning()).as(key.name()).isNotBlank().endsWith(".");
            if (key.defaultValue() instanceof ConfigKey.Default.Literal literal && !literal.value().isEmpty()) {
                assertThat(literal.value()).as(key.name()).satisfies(v -> key.type().parse(v));
            }
        }
    }
}
