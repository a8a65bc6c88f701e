package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Renders the hosts file from each source kind and from their mix, and compares it byte for byte with the
 * golden files under src/test/resources/io/istiovm/agent/hosts/golden. After an intended change of the output,
 * regenerate them with {@code -Dgolden.update=true} and review the diff.
 */
class HostsGoldenTest {
    private static final Path GOLDEN = Path.of("src/test/resources/io/istiovm/agent/hosts/golden");

    private HostsScratch scratch;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
    }

    @AfterEach
    void tearDown() throws IOException {
        scratch.close();
    }

    @Test
    void gatewayAddressMapsTheControlPlaneNames() throws IOException {
        scratch.clusterEnv("ISTIO_SYSTEM_NAMESPACE=mesh-system", "VM_AGENT_GATEWAY_ADDRESS=192.168.99.1",
                "VM_AGENT_GATEWAY_NAMES='istio-ingress.mesh, discovery.mesh'");
        assertApplies("gateway");
    }

    @Test
    void istioctlHostsFile() throws IOException {
        scratch.hostsSource("192.168.99.1 istiod.istio-system.svc\n");
        assertApplies("istioctl-hosts");
    }

    @Test
    void dropInHostsFormat() throws IOException {
        scratch.dropIn("10-legacy.hosts", "# legacy names\r\n10.1.2.3\tlegacy-db legacy-db.corp\r\n"
                + "fd00::1  legacy-db   # IPv6 too\r\n\r\n10.1.2.4 Cache.Corp\r\n");
        assertApplies("dropin-hosts");
    }

    @Test
    void seedServiceEntry() throws IOException {
        scratch.dropIn("httpbin-bar-forvms.yaml", manifest("httpbin-bar-forvms.yaml"));
        assertApplies("seed-serviceentry");
        assertThat(scratch.targetText()).contains("127.255.0.3 httpbin.bar.global # ServiceEntry httpbin.bar.forvms");
    }

    @Test
    void serviceEntryJson() throws IOException {
        scratch.dropIn("reviews.json", manifest("reviews.json"));
        assertApplies("serviceentry-json");
    }

    @Test
    void serviceEntriesInSeveralDocumentsAndAList() throws IOException {
        scratch.dropIn("bookinfo.yaml", manifest("multi-document.yaml"));
        CliRun run = assertApplies("serviceentry-multidoc");
        Path file = scratch.dropIns().resolve("bookinfo.yaml");
        assertThat(run.err()).isEqualTo(""
                + "warning: " + file + ":12: ServiceEntry external-api has no spec.addresses, so its hosts are "
                + "resolved through DNS; nothing is written for them\n"
                + "warning: " + file + ":30: items[0].spec.hosts[1]='*.wildcard.global': a wildcard host cannot be "
                + "written to a hosts file; skipped\n");
    }

    @Test
    void everySourceTogether() throws IOException {
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        scratch.hostsSource("192.168.99.1 istiod.istio-system.svc\n");
        scratch.dropIn("10-legacy.hosts", "10.1.2.3 legacy-db\n");
        scratch.dropIn("httpbin-bar-forvms.yaml", manifest("httpbin-bar-forvms.yaml"));
        scratch.dropIn("reviews.json", manifest("reviews.json"));
        Files.writeString(scratch.target(), HostsScratch.TYPICAL_HOSTS + "\n10.9.9.9 httpbin.bar.global\n");
        CliRun run = assertApplies("mix");
        assertThat(run.err()).isEqualTo("warning: " + scratch.target() + ":16: httpbin.bar.global is also mapped "
                + "to 10.9.9.9 here, outside the istio-vm-agent block, which maps it to 127.255.0.3 (ServiceEntry "
                + "httpbin.bar.forvms (httpbin-bar-forvms.yaml:3)); resolvers may answer either, remove this line\n");
    }

    @Test
    void applyingTwiceChangesNothingAndCleanRestoresEveryByte() throws IOException {
        byte[] original = scratch.targetBytes();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        scratch.dropIn("httpbin-bar-forvms.yaml", manifest("httpbin-bar-forvms.yaml"));
        assertThat(scratch.cli("hosts", "apply").exitCode()).isZero();
        byte[] applied = scratch.targetBytes();
        CliRun again = scratch.cli("hosts", "apply");
        assertThat(again.out()).isEqualTo(scratch.target() + ": already up to date\n");
        assertThat(scratch.targetBytes()).isEqualTo(applied);
        assertThat(scratch.cli("hosts", "plan", "--verify").exitCode()).isZero();
        assertThat(scratch.cli("hosts", "clean").exitCode()).isZero();
        assertThat(scratch.targetBytes()).isEqualTo(original);
        assertThat(scratch.cli("hosts", "plan", "--verify").exitCode()).isEqualTo(1);
    }

    @Test
    void planPrintsTheBlockAsADiffAndWritesNothing() throws IOException {
        scratch.dropIn("httpbin-bar-forvms.yaml", manifest("httpbin-bar-forvms.yaml"));
        scratch.dropIn("20-old.hosts", "127.255.0.9 old.global\n");
        byte[] before = scratch.targetBytes();
        String seed = "127.255.0.3 httpbin.bar.global # ServiceEntry httpbin.bar.forvms (httpbin-bar-forvms.yaml:3)";
        assertThat(scratch.cli("hosts", "plan").out()).isEqualTo("# hosts file: " + scratch.target() + " (changes)\n"
                + "+ " + HostsBlock.BEGIN + "\n+ " + seed + "\n+ 127.255.0.9 old.global # 20-old.hosts:1\n+ "
                + HostsBlock.END + "\n");
        assertThat(scratch.targetBytes()).isEqualTo(before);

        assertThat(scratch.cli("hosts", "apply").exitCode()).isZero();
        Files.delete(scratch.dropIns().resolve("20-old.hosts"));
        scratch.dropIn("20-new.hosts", "127.255.0.7 new.global\n");
        assertThat(scratch.cli("hosts", "plan").out()).isEqualTo("# hosts file: " + scratch.target() + " (changes)\n"
                + "  " + HostsBlock.BEGIN + "\n  " + seed + "\n+ 127.255.0.7 new.global # 20-new.hosts:1\n  "
                + HostsBlock.END + "\n- 127.255.0.9 old.global # 20-old.hosts:1\n");
    }

    private CliRun assertApplies(String golden) throws IOException {
        CliRun run = scratch.cli("hosts", "apply");
        assertThat(run.exitCode()).as(run.err()).isZero();
        byte[] actual = scratch.targetBytes();
        Path file = GOLDEN.resolve(golden + ".hosts");
        if (Boolean.getBoolean("golden.update")) {
            Files.write(file, actual);
        }
        assertThat(new String(actual, StandardCharsets.UTF_8))
                .isEqualTo(new String(Files.readAllBytes(file), StandardCharsets.UTF_8));
        assertThat(actual).isEqualTo(Files.readAllBytes(file));
        return run;
    }

    static String manifest(String name) throws IOException {
        try (InputStream in = HostsGoldenTest.class.getResourceAsStream("manifests/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
