package io.istiovm.agent.it.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.GuideSettings;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.it.systemd.SystemdContainer.Result;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.JavaProcess;
import io.istiovm.agent.testing.TestCa;
import io.istiovm.agent.testing.VmPeerNetwork;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * {@code ./istio-vm-agent sandbox}: the multi-network VM guide's whole scenario on this one machine, with no
 * cluster, in namespaces it creates and removes.
 *
 * <pre>
 *   vm (netns + mount namespace, {@link SandboxVm})                cluster (netns)
 *   10.200.0.1                                                      10.200.0.2
 *   istio-vm-agent run (the packaged jar, through deb/launcher)     test CA on :15012 (both protocols)
 *     /etc/hosts block: istio-citadel... -&gt; 10.200.0.2,            gateway :15443 (mesh-root mTLS, SNI routes)
 *                       127.255.0.3 httpbin.bar.global                httpbin on 127.0.0.1:8000 behind it
 *     iptables capture, identity in /etc/certs, SDS
 *     Envoy = the stand-in at /usr/local/bin/envoy, as istio-proxy
 *   python3 -m http.server 8888 (the guide's application)
 * </pre>
 *
 * <p>Why the jar in a mount namespace rather than the .deb in the booted systemd container the integration tests
 * use: the sandbox is what a newcomer runs first, so it must start in seconds on any Debian 12 machine, without a
 * debootstrapped rootfs (minutes, and a few hundred megabytes) or systemd-nspawn; and the agent it runs is the same
 * jar, started by the .deb's own launcher with the unit's environment file. The package under systemd is shown by
 * DebInstallIT and SystemdUnitIT, which follow the same guide in the container.
 *
 * <p>Each step prints what it saw, taken from the state of the parts (the agent's own CLI inside the vm, the
 * files, the kernel's rules, the answers), and the run ends with exit 0 when every step held, 1 naming the step that
 * did not (2 when tearing down failed), 77 when not root. {@code --keep} leaves everything running after the steps,
 * prints how to look around, and tears down on Ctrl-C. {@code --report FILE} writes the steps as JSON.
 */
public final class Sandbox {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String WORKLOAD = TestCa.identity("vm", "default");
    static final String GATEWAY_ID = TestCa.identity("bar", "httpbin");
    static final String SERVICE = "httpbin.bar.global";
    static final String SERVICE_IP = "127.255.0.3";
    static final String SNI = "outbound_.8000_._.httpbin.bar.svc.cluster.local";
    static final String CA = VmPeerNetwork.PEER_IPV4 + ":15012";
    static final String GATEWAY = VmPeerNetwork.PEER_IPV4 + ":15443";
    /** Istio's uid for istio-proxy (the sidecar injector's runAsUser); the guide's package creates the user. */
    static final int ISTIO_PROXY_UID = 1337;
    private static final Duration STEP = Duration.ofSeconds(60);
    private static final Pattern SERIAL = Pattern.compile("(?m)^\\s*serial\\s*:?\\s*([0-9a-fA-F:]+)\\s*$");

    private final Duration ttl;
    private final boolean keep;
    private final Path report;
    private final Path repo = AgentProcess.repositoryRoot();
    private final ArrayNode steps = JSON.createArrayNode();
    private final byte[] hostHostsBefore;
    private final String hostNatBefore;
    private Path work;
    private VmPeerNetwork network;
    private Process cluster;
    private SandboxVm vm;
    private Process agent;
    private EnvoyStandInFixture standIn;
    private int stepNumber;
    private volatile boolean tornDown;

    private Sandbox(Duration ttl, boolean keep, Path report) throws IOException {
        this.ttl = ttl;
        this.keep = keep;
        this.report = report;
        this.hostHostsBefore = Files.readAllBytes(Path.of("/etc/hosts"));
        this.hostNatBefore = host("iptables-save", "-t", "nat");
    }

    public static void main(String[] args) throws Exception {
        Duration ttl = Duration.ofSeconds(20);
        boolean keep = false;
        Path report = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--keep" -> keep = true;
                case "--report" -> report = Path.of(args[++i]);
                case "--ttl" -> ttl = Duration.ofSeconds(Long.parseLong(args[++i]));
                default -> {
                    System.err.println("usage: sandbox [--keep] [--report FILE] [--ttl SECONDS]");
                    System.exit(64);
                }
            }
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("sandbox: needs root (network and mount namespaces, iptables in them)");
            System.exit(77);
        }
        System.exit(new Sandbox(ttl, keep, report).runAll());
    }

    private int runAll() throws Exception {
        Thread teardownOnSignal = new Thread(this::tearDownQuietly, "sandbox-teardown");
        Runtime.getRuntime().addShutdownHook(teardownOnSignal);
        String failed = null;
        try {
            step("network", "two network namespaces joined by a veth pair", this::network);
            step("cluster", "the cluster side: test CA, ingress gateway, httpbin", this::cluster);
            step("vm", "the vm: the guide's steps with this repository's agent", this::vm);
            step("configuration", "the configuration the agent loads (istio-vm-agent check)", this::configuration);
            step("ready", "the agent started and READY (every component holds)", this::ready);
            step("identity", "the workload identity in /etc/certs and in Envoy over SDS", this::identity);
            step("rotation", "the identity rotated through the CA before it expires", this::rotation);
            step("hosts", "the agent's block of /etc/hosts", this::hosts);
            step("capture", "the capture rules (iptables-save -t nat)", this::capture);
            step("outbound", "curl " + SERVICE + ":8000 from the vm, through the sidecar and the gateway",
                    this::outbound);
            step("inbound", "a request from the cluster to the vm's 8888, captured and answered by the application",
                    this::inbound);
            step("envoy", "Envoy's epoch and state (istio-vm-agent envoy admin /server_info)", this::envoy);
            step("readiness", "the agent's status (istio-vm-agent status)", this::readiness);
            if (keep) {
                keepRunning();
            }
        } catch (StepFailed e) {
            failed = e.getMessage();
        }
        boolean clean = tearDownStep();
        writeReport(failed == null && clean);
        Runtime.getRuntime().removeShutdownHook(teardownOnSignal);
        if (failed != null) {
            System.out.println("\nsandbox: FAILED at step \"" + failed + "\"");
            return 1;
        }
        if (!clean) {
            System.out.println("\nsandbox: FAILED at step \"teardown\"");
            return 2;
        }
        System.out.println("\nsandbox: every step held");
        return 0;
    }

    /** One step: its title, then what it saw, indented; a failure ends the run (after teardown). */
    private void step(String name, String title, Callable<String> body) throws StepFailed {
        stepNumber++;
        System.out.println("\n== " + stepNumber + ". " + title);
        Instant start = Instant.now();
        ObjectNode record = steps.addObject().put("step", name).put("title", title);
        try {
            String evidence = body.call();
            record.put("ok", true).put("evidence", evidence);
            System.out.println(indent(evidence));
        } catch (Exception | AssertionError e) {
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            record.put("ok", false).put("evidence", message);
            System.out.println(indent("FAILED: " + message));
            throw new StepFailed(name);
        } finally {
            record.put("seconds", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        }
    }

    private static final class StepFailed extends Exception {
        StepFailed(String step) {
            super(step);
        }
    }

    private String network() throws IOException {
        work = Files.createTempDirectory(Files.createDirectories(repo.resolve("integration-tests/target/sandbox")),
                "run-");
        network = VmPeerNetwork.create();
        return "vm      " + network.vm() + "  " + VmPeerNetwork.VM_IPV4 + "\n"
                + "cluster " + network.peer() + "  " + VmPeerNetwork.PEER_IPV4 + "\n"
                + "work directory " + work;
    }

    private String cluster() throws Exception {
        Path gatewayIdentity = work.resolve("gateway-identity");
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", network.peer()));
        command.addAll(JavaProcess.command(SandboxCluster.class, "--identity", gatewayIdentity.toString(),
                "--gateway", GATEWAY, "--httpbin", "127.0.0.1:8000", "--route", SNI + "=127.0.0.1:8000",
                "--ca", CA, "--ca-ttl", Long.toString(ttl.toSeconds()), "--gateway-id", GATEWAY_ID,
                "--workload", WORKLOAD, "--provision", work.resolve("provisioned").toString()));
        Path log = work.resolve("cluster.log");
        cluster = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        await("the cluster side listens", () -> Files.readString(log).contains("READY\n") || !cluster.isAlive());
        check(cluster.isAlive(), "the cluster process exited: " + Files.readString(log));
        return Files.readString(log).replace("READY\n", "").strip() + "\n"
                + "gateway identity " + GATEWAY_ID + "\n"
                + "the VM's first identity (as istioctl provisions it) " + WORKLOAD + ", " + ttl.toSeconds()
                + " s lifetime";
    }

    private String vm() throws Exception {
        vm = SandboxVm.create(network.vm(), work);
        standIn = new EnvoyStandInFixture();
        // What `dpkg -i` does that the agent needs: the istio-proxy user (Istio's uid) and the agent's group.
        vm.run(STEP, "useradd", "--system", "--uid", Integer.toString(ISTIO_PROXY_UID), "--user-group",
                "--no-create-home", "--home-dir", "/var/lib/istio", "--shell", "/usr/sbin/nologin", "istio-proxy")
                .ok();
        vm.run(STEP, "groupadd", "--system", "istio-vm-agent").ok();
        // Envoy: the stand-in, installed where Istio's package puts Envoy, configured as istiod would configure
        // it for this scenario (its routes) and listening where the capture rules send traffic.
        vm.writeFile("/etc/istio/sandbox/routes", "# what istiod would send Envoy over xDS for the guide's scenario\n"
                + outboundRoute(SERVICE_IP, GATEWAY_ID) + "inbound 8888\n", "0644");
        vm.writeFile("/usr/local/bin/envoy", "#!/bin/sh\n"
                + "# The sandbox's Envoy: the Envoy stand-in (integration tests), standing in for Istio's proxy\n"
                + "# build, which registers io.istio.http.peer_metadata and istio.metadata_exchange.\n"
                + "ENVOY_STANDIN_ROUTES=/etc/istio/sandbox/routes\n"
                + "ENVOY_STANDIN_CAPTURE_ADDRESS=0.0.0.0\n"
                + "ENVOY_STANDIN_OUTBOUND_PORT=15001\n"
                + "ENVOY_STANDIN_INBOUND_PORT=15006\n"
                + "ENVOY_STANDIN_SHM_DIR=/dev/shm\n"
                + "ENVOY_STANDIN_RECORD=/var/log/istio/envoy-standin.record\n"
                + "export ENVOY_STANDIN_ROUTES ENVOY_STANDIN_CAPTURE_ADDRESS ENVOY_STANDIN_OUTBOUND_PORT"
                + " ENVOY_STANDIN_INBOUND_PORT ENVOY_STANDIN_SHM_DIR ENVOY_STANDIN_RECORD\n"
                + "exec " + standIn.binary() + " \"$@\"\n", "0755");
        vm.shell(STEP, "install -d -o istio-proxy -g istio-proxy /var/log/istio"
                + " && install -o istio-proxy -g istio-proxy -m 0644 /dev/null /var/log/istio/envoy-standin.record")
                .ok();

        // The guide's VM steps: the identity, cluster.env, then chown to istio-proxy.
        Path provisioned = work.resolve("provisioned");
        vm.run(STEP, "mkdir", "-p", "/etc/certs", "/var/lib/istio/envoy/hosts.d").ok();
        vm.shell(STEP, "cp " + provisioned + "/root-cert.pem " + provisioned + "/cert-chain.pem " + provisioned
                + "/key.pem /etc/certs").ok();
        // The guide's cluster.env, then the sandbox's own values: the gateway is the cluster namespace, the CA is
        // istiod's port behind it, the VM's address and workload name, and a short CA backoff.
        GuideSettings settings = new GuideSettings()
                .putLines(Files.readAllLines(repo.resolve("examples/seed/cluster.env")), key -> true)
                .put("VM_AGENT_GATEWAY_ADDRESS", VmPeerNetwork.PEER_IPV4)
                .put("CA_ADDR", "istio-citadel:15012")
                .put("ISTIO_SVC_IP", VmPeerNetwork.VM_IPV4)
                .put("ISTIO_NAMESPACE", "vm")
                .put("POD_NAME", "vm1")
                .put("VM_AGENT_CA_BACKOFF_MAX", "2s");
        String env = settings.clusterEnv("the multi-network guide's cluster.env (examples/seed), for the sandbox");
        vm.writeFile("/var/lib/istio/envoy/cluster.env", env, "0644");
        vm.writeFile("/var/lib/istio/envoy/hosts.d/httpbin-bar-forvms.yaml",
                Files.readString(repo.resolve("examples/seed/hosts.d/httpbin-bar-forvms.yaml")), "0644");
        vm.run(STEP, "chown", "-R", "istio-proxy", "/etc/certs", "/var/lib/istio/envoy").ok();
        // Names for /etc/hosts are for every user of the machine: their sources must be root's, in root's
        // directories (README, "Configuration trust"), so hosts.d and the directory above it go back to root;
        // cluster.env stays istio-proxy's, as the guide leaves it.
        vm.shell(STEP, "chown -R root /var/lib/istio/envoy/hosts.d && chown root /var/lib/istio/envoy").ok();
        // Keys only root may set (they raise privileges) go where the package's unit reads its environment.
        String defaults = settings.rootOnly("root-only keys (README, \"Configuration trust\")");
        vm.writeFile("/etc/default/istio-vm-agent", defaults, "0644");

        // The guide's application.
        vm.writeFile("/var/lib/sandbox-app/hello.txt", "hello from the vm's application on 8888\n", "0644");
        vm.start(work.resolve("app.log"), Map.of(), "python3", "-m", "http.server", "8888", "--directory",
                "/var/lib/sandbox-app");
        await("the application listens on 8888", () -> vm.run(STEP, "curl", "-s", "-o", "/dev/null",
                "http://127.0.0.1:8888/hello.txt").exit() == 0);
        return "istio-proxy (uid " + ISTIO_PROXY_UID + "), /usr/local/bin/envoy (the Envoy stand-in)\n"
                + "/etc/certs: the provisioned identity; chown -R istio-proxy /etc/certs /var/lib/istio/envoy\n"
                + "hosts.d and /var/lib/istio/envoy back to root (hosts sources are root's)\n"
                + "/var/lib/istio/envoy/cluster.env:\n" + indent(env.strip()) + "\n"
                + "/etc/default/istio-vm-agent:\n" + indent(defaults.strip()) + "\n"
                + "/var/lib/istio/envoy/hosts.d/httpbin-bar-forvms.yaml (the guide's ServiceEntry)\n"
                + "python3 -m http.server 8888 (the application)\n"
                + "enter the vm: " + vm.enterCommand() + " bash";
    }

    /**
     * The stand-in's route ({@code ENVOY_STANDIN_ROUTES}) for httpbin on port 8000 at {@code serviceIp}: over mTLS to
     * the gateway with Istio's SNI for it, the upstream presenting {@code san}.
     */
    static String outboundRoute(String serviceIp, String san) {
        return serviceIp + ":8000 -> " + GATEWAY + " sni=" + SNI + " san=" + san + "\n";
    }

    /** The agent's CLI inside the vm, through the package's launcher, with the unit's environment file. */
    private Result agentCli(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("sh", "-c",
                "set -a; . /etc/default/istio-vm-agent; set +a; exec sh \"$0\" \"$@\"",
                repo.resolve("deb/launcher").toString()));
        command.addAll(List.of(args));
        return vm.run(STEP, launcherEnvironment(), command.toArray(String[]::new));
    }

    private Map<String, String> launcherEnvironment() {
        return AgentProcess.launcherEnvironment(AgentProcess.jar().getParent());
    }

    /**
     * {@code check} (every key with its source; only those not at their defaults are printed), then
     * {@code run --dry-run}: what {@code run} would do, exiting as it would.
     */
    private String configuration() throws Exception {
        Result check = agentCli("check");
        check.ok();
        String set = check.out().lines().filter(l -> l.startsWith("KEY ") || l.matches("\\S+\\s+.*\\s(cluster|sidecar)"
                + "\\.env:\\d+.*|\\S+\\s+.*\\senvironment.*")).reduce((a, b) -> a + "\n" + b).orElse("");
        Result dryRun = agentCli("run", "--dry-run");
        dryRun.ok();
        return "istio-vm-agent check (the keys not at their defaults):\n" + indent(set)
                + "\nistio-vm-agent run --dry-run:\n" + indent(withoutJvmNoise(dryRun.out()).strip());
    }

    /** Output without the JVM's own class-data-sharing warnings (the launcher training its archive). */
    private static String withoutJvmNoise(String out) {
        return out.lines().filter(l -> !l.contains("][cds]")).reduce((a, b) -> a + "\n" + b).orElse("");
    }

    private String ready() throws Exception {
        Instant start = Instant.now();
        agent = vm.start(work.resolve("agent.log"), launcherEnvironment(), "sh", "-c",
                "set -a; . /etc/default/istio-vm-agent; set +a; exec sh \"$0\" run",
                repo.resolve("deb/launcher").toString());
        await("the agent is ready (127.0.0.1:15020/healthz/ready)", () -> !agent.isAlive()
                || vm.run(STEP, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:15020/healthz/ready")
                .exit() == 0);
        check(agent.isAlive(), "the agent exited with " + (agent.isAlive() ? "" : agent.exitValue()) + ": "
                + tail(work.resolve("agent.log")));
        return "istio-vm-agent run (pid " + agent.pid() + ") ready after "
                + Duration.between(start, Instant.now()).toMillis() + " ms\n"
                + "GET 127.0.0.1:15020/healthz/ready: " + vm.run(STEP, "curl", "-s",
                "http://127.0.0.1:15020/healthz/ready").out().strip();
    }

    private String certsShow() throws Exception {
        Result show = agentCli("certs", "show");
        show.ok();
        return show.out().strip();
    }

    private String provisionedSerial;

    private String identity() throws Exception {
        String shown = certsShow();
        provisionedSerial = serialOf(shown);
        // The provisioned serial itself, or already its successor when a rotation came first: any identity.
        await("Envoy holds an identity over SDS", () -> !envoyCerts().isEmpty());
        return shown + "\nEnvoy (admin /certs: the workload chain and the root) holds serials " + envoyCerts();
    }

    private String rotation() throws Exception {
        String[] rotated = new String[1];
        Await.until("a new certificate replaces serial " + provisionedSerial, ttl.plusSeconds(30), () -> {
            String serial = serialOf(certsShow());
            rotated[0] = serial;
            return !normalized(serial).equals(normalized(provisionedSerial));
        });
        await("Envoy holds the rotated certificate", () -> envoyCerts().contains(normalized(rotated[0])));
        return "serial " + provisionedSerial + " -> " + rotated[0] + " (issued by the CA at " + CA + ")\n"
                + certsShow() + "\nEnvoy (admin /certs) now holds " + envoyCerts() + ", pushed over SDS";
    }

    private static String serialOf(String certsShow) {
        Matcher m = SERIAL.matcher(certsShow);
        check(m.find(), "no serial in `certs show`:\n" + certsShow);
        return m.group(1);
    }

    private static String normalized(String serial) {
        return serial.replace(":", "").toLowerCase(java.util.Locale.ROOT).replaceFirst("^0+", "");
    }

    /** The serials Envoy holds (its admin /certs, through the agent's CLI), normalized. */
    private List<String> envoyCerts() throws IOException, InterruptedException {
        Result certs = agentCli("envoy", "admin", "/certs");
        List<String> serials = new ArrayList<>();
        Matcher m = Pattern.compile("\"serial_number\"\\s*:\\s*\"([0-9a-fA-F]+)\"").matcher(certs.out());
        while (m.find()) {
            serials.add(normalized(m.group(1)));
        }
        return serials;
    }

    private String hosts() throws Exception {
        String hosts = vm.readFile("/etc/hosts");
        check(hosts.contains(VmPeerNetwork.PEER_IPV4 + " istio-citadel") || hosts.matches("(?s).*"
                + Pattern.quote(VmPeerNetwork.PEER_IPV4) + "\\s+[^\\n]*istio-citadel.*"),
                "no istio-citadel line for the gateway in /etc/hosts:\n" + hosts);
        check(hosts.matches("(?s).*" + Pattern.quote(SERVICE_IP) + "\\s+" + Pattern.quote(SERVICE) + ".*"),
                "no " + SERVICE_IP + " " + SERVICE + " line in /etc/hosts:\n" + hosts);
        // IPv4 only: the block has no IPv6 addresses, and an AAAA lookup would go on to DNS, which the vm has not.
        StringBuilder resolved = new StringBuilder();
        for (String name : List.of(SERVICE, "istio-citadel")) {
            Result lookup = vm.run(STEP, "getent", "ahostsv4", name);
            lookup.ok();
            resolved.append(name).append(" -> ").append(lookup.out().lines().findFirst().orElse("").split("\\s+")[0])
                    .append('\n');
        }
        check(resolved.toString().contains(SERVICE + " -> " + SERVICE_IP), "glibc resolves " + resolved);
        return "/etc/hosts in the vm:\n" + indent(hosts.strip()) + "\nas glibc resolves them (getent ahostsv4):\n"
                + indent(resolved.toString().strip());
    }

    private String capture() throws Exception {
        Result nat = vm.run(STEP, "iptables-save", "-t", "nat");
        nat.ok();
        check(nat.out().contains("--to-ports 15001"), "no redirect to 15001:\n" + nat.out());
        check(nat.out().contains("--to-ports 15006"), "no redirect to 15006:\n" + nat.out());
        check(nat.out().contains(SERVICE_IP.substring(0, SERVICE_IP.lastIndexOf('.') - 2)),
                "the *.global range is not captured:\n" + nat.out());
        return nat.out().lines().filter(l -> !l.startsWith("#")).reduce((a, b) -> a + "\n" + b).orElse("");
    }

    private String outbound() throws Exception {
        Result curl = vm.run(STEP, "curl", "-si", "--max-time", "20", "http://" + SERVICE + ":8000/get");
        curl.ok();
        String out = curl.out().replace("\r\n", "\n");
        check(out.startsWith("HTTP/1.1 200"), "not 200:\n" + out);
        check(out.lines().anyMatch(l -> l.strip().equalsIgnoreCase("server: envoy")), "no `server: envoy`:\n" + out);
        check(out.contains("\"peer\": \"" + WORKLOAD + "\""), "the gateway did not see " + WORKLOAD + ":\n" + out);
        check(out.contains("\"original_destination\": \"" + SERVICE_IP + ":8000\""),
                "the original destination is not " + SERVICE_IP + ":8000:\n" + out);
        return "curl -si http://" + SERVICE + ":8000/get\n" + indent(out.strip());
    }

    private String inbound() throws Exception {
        long before = inboundPackets();
        List<String> command = List.of("ip", "netns", "exec", network.peer(), "curl", "-si", "--max-time", "20",
                "http://" + VmPeerNetwork.VM_IPV4 + ":8888/hello.txt");
        VmPeerNetwork.ProcessResult curl = VmPeerNetwork.exec(command);
        String out = curl.stdout().replace("\r\n", "\n");
        check(curl.exitCode() == 0 && (out.startsWith("HTTP/1.0 200") || out.startsWith("HTTP/1.1 200")),
                "curl exited " + curl.exitCode() + ": " + out + curl.stderr());
        check(out.contains("hello from the vm's application"), "not the application's answer:\n" + out);
        long after = inboundPackets();
        check(after > before, "the inbound capture rule counted no packets (" + before + " -> " + after + ")");
        return "from the cluster: curl -si http://" + VmPeerNetwork.VM_IPV4 + ":8888/hello.txt\n" + indent(out.strip())
                + "\npackets through the inbound redirect to 15006: " + before + " -> " + after;
    }

    /** Packets counted by the vm's nat rules that redirect to 15006. */
    private long inboundPackets() throws Exception {
        Result counters = vm.run(STEP, "iptables-save", "-c", "-t", "nat");
        counters.ok();
        long packets = 0;
        Matcher m = Pattern.compile("(?m)^\\[(\\d+):\\d+\\] .*--to-ports 15006").matcher(counters.out());
        while (m.find()) {
            packets += Long.parseLong(m.group(1));
        }
        return packets;
    }

    private String envoy() throws Exception {
        Result info = agentCli("envoy", "admin", "/server_info");
        info.ok();
        JsonNode json = JSON.readTree(info.out().substring(info.out().indexOf('{')));
        check(json.path("state").asText().equals("LIVE"), "Envoy is not LIVE: " + info.out());
        return "state " + json.path("state").asText() + ", restart epoch "
                + json.path("command_line_options").path("restart_epoch").asText("?") + "\n" + info.out().strip();
    }

    private String readiness() throws Exception {
        Result status = agentCli("status");
        status.ok();
        Result json = agentCli("status", "--output", "json");
        json.ok();
        JsonNode node = JSON.readTree(json.out());
        check(node.path("ready").asBoolean(false), "the agent is not ready:\n" + json.out());
        return status.out().strip();
    }

    private void keepRunning() throws InterruptedException {
        String enter = vm.enterCommand();
        System.out.println("\n== the sandbox keeps running (--keep); look around, then press Ctrl-C to tear it down\n"
                + indent("a shell in the vm:            " + enter + " bash\n"
                + "the agent's status:           " + enter + " sh " + repo.resolve("deb/launcher") + " status\n"
                + "curl the service:             " + enter + " curl -si http://" + SERVICE + ":8000/get\n"
                + "the capture rules:            " + enter + " iptables-save -t nat\n"
                + "the hosts block:              " + enter + " cat /etc/hosts\n"
                + "from the cluster to the vm:   ip netns exec " + network.peer() + " curl -si http://"
                + VmPeerNetwork.VM_IPV4 + ":8888/hello.txt\n"
                + "the agent's log:              " + work.resolve("agent.log") + "\n"
                + "(the launcher needs ISTIO_VM_AGENT_JAR=" + AgentProcess.jar() + ")"));
        Thread.currentThread().join();
    }

    /** Stops the agent as systemctl stop would (SIGTERM), checks it left nothing behind, removes everything. */
    private boolean tearDownStep() {
        try {
            step("teardown", "teardown: the agent stopped and cleaned up; namespaces and files removed",
                    this::tearDown);
            return true;
        } catch (StepFailed e) {
            tearDownQuietly();
            return false;
        }
    }

    private String tearDown() throws Exception {
        StringBuilder seen = new StringBuilder();
        if (agent != null && agent.isAlive()) {
            agent.destroy();
            check(agent.waitFor(60, TimeUnit.SECONDS), "the agent did not stop within 60 s of SIGTERM");
            // 143 (128 + SIGTERM) is the JVM's clean stop, the unit's SuccessExitStatus.
            check(agent.exitValue() == 143 || agent.exitValue() == 0, "the agent exited with " + agent.exitValue()
                    + ": " + tail(work.resolve("agent.log")));
            seen.append("the agent exited with ").append(agent.exitValue()).append(" after SIGTERM (a clean stop)\n");
            String nat = vm.run(STEP, "iptables-save", "-t", "nat").out();
            check(!nat.contains("ISTIO"), "capture rules left behind:\n" + nat);
            String hosts = vm.readFile("/etc/hosts");
            check(!hosts.contains(SERVICE), "the hosts block is still there:\n" + hosts);
            seen.append("no capture rules left in the vm; /etc/hosts without the agent's block\n");
            check(standIn.alivePids().isEmpty(), "Envoy still runs: " + standIn.alivePids());
            seen.append("Envoy stopped\n");
        }
        tearDownQuietly();
        check(Files.readAllBytes(Path.of("/etc/hosts")).length == hostHostsBefore.length
                && java.util.Arrays.equals(Files.readAllBytes(Path.of("/etc/hosts")), hostHostsBefore),
                "this machine's /etc/hosts changed");
        check(host("iptables-save", "-t", "nat").replaceAll("(?m)^#.*\n", "")
                .equals(hostNatBefore.replaceAll("(?m)^#.*\n", "")), "this machine's nat rules changed");
        String netns = host("ip", "netns", "list");
        check(network == null || !netns.contains(network.vm()) && !netns.contains(network.peer()),
                "namespaces left: " + netns);
        seen.append("namespaces removed, work directory removed; this machine's /etc/hosts and nat rules unchanged");
        return seen.toString();
    }

    private synchronized void tearDownQuietly() {
        if (tornDown) {
            return;
        }
        tornDown = true;
        for (AutoCloseable part : new AutoCloseable[] {
                () -> { if (vm != null) { vm.close(); } },
                () -> { if (standIn != null) { standIn.close(); } },
                () -> { if (cluster != null) { cluster.destroyForcibly().waitFor(30, TimeUnit.SECONDS); } },
                () -> { if (network != null) { network.close(); } },
                () -> { if (work != null) { deleteTree(work); } }}) {
            try {
                part.close();
            } catch (Exception e) {
                System.err.println("sandbox: teardown: " + e);
            }
        }
    }

    private void writeReport(boolean ok) throws IOException {
        if (report == null) {
            return;
        }
        ObjectNode root = JSON.createObjectNode().put("ok", ok);
        root.set("steps", steps);
        Files.writeString(report, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    private static void check(boolean condition, String problem) {
        if (!condition) {
            throw new IllegalStateException(problem);
        }
    }

    private static void await(String what, Callable<Boolean> condition) throws Exception {
        Await.until(what, STEP, condition);
    }

    private static String host(String... command) throws IOException {
        return VmPeerNetwork.exec(List.of(command)).stdout();
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = withoutJvmNoise(Files.readString(log, StandardCharsets.UTF_8)).lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }

    private static String indent(String text) {
        return text.lines().map(l -> "   " + l).reduce((a, b) -> a + "\n" + b).orElse("");
    }
}
