package io.istiovm.agent.testing;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Runs a {@link TestCa} as a stand-alone process for benchmarks and manual trials: provisions an identity and a
 * cluster.env pointing at the CA under {@code DIR} (CA_ADDR and CITADEL_ADDRESS both at it), prints the CA address,
 * and serves until killed. A third argument, {@code HandleCSR} or {@code CreateCertificate}, makes it serve only
 * that protocol (an Istio 1.4 Citadel, an istiod), to try VM_AGENT_CA_PROTOCOL=auto.
 *
 * <pre>
 * java -cp agent-core/target/test-classes:agent-core/target/classes:$(deps) \
 *     io.istiovm.agent.testing.TestCaMain /tmp/bench [TTL seconds [HandleCSR|CreateCertificate]]
 * istio-vm-agent certs rotate --config-dir /tmp/bench/config --repeat 500
 * </pre>
 */
public final class TestCaMain {
    private TestCaMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Duration ttl = Duration.ofSeconds(args.length > 1 ? Long.parseLong(args[1]) : 3600);
        TestCa ca = TestCa.start(Clock.systemUTC()).ttl(ttl);
        if (args.length > 2) {
            ca.serveOnly(switch (args[2]) {
                case "HandleCSR" -> TestCa.Service.HANDLE_CSR;
                case "CreateCertificate" -> TestCa.Service.CREATE_CERTIFICATE;
                default -> throw new IllegalArgumentException("serve HandleCSR or CreateCertificate, not " + args[2]);
            });
        }
        ca.writeIdentity(dir.resolve("certs"), TestCa.identity("default", "default"), ttl);
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("CA_ADDR", ca.address());
        settings.put("CITADEL_ADDRESS", ca.address());
        settings.put("PROV_CERT", dir.resolve("certs").toString());
        settings.put("VM_AGENT_CERTS_OWNER", "0");
        TestConfigs.load(dir.resolve("config"), settings);
        System.out.println("test CA at " + ca.address() + "; configuration in " + dir.resolve("config"));
        new CountDownLatch(1).await();
    }
}
