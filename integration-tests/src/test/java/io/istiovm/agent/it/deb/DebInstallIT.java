package io.istiovm.agent.it.deb;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.GuideSettings;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.it.systemd.SystemdContainer;
import io.istiovm.agent.it.systemd.StandInContainer;
import io.istiovm.agent.testing.TestCa;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 13's acceptance: the built .deb in a booted Debian 12 (systemd 252) container, the multi-network guide's VM
 * steps followed as written (dpkg -i, the three PEM files and cluster.env copied into place, chown -R istio-proxy,
 * start istio-auth-node-agent, start istio), then a SIGKILL under systemd, remove, purge, reinstall and an upgrade
 * to a second build with a higher version. The tests are one scenario, in order, on one container.
 *
 * <p>What is not the guide's: the test CA (on the host end of the container's veth) stands in for istiod's CA, the
 * Envoy stand-in is installed where Istio's package put Envoy (/usr/local/bin/envoy), cluster.env adds to the
 * guide's values ({@code examples/seed/cluster.env}) only the CA's address and the stand-in's ports (the root-only
 * keys among them in /etc/default/istio-vm-agent, where README puts them), and one drop-in
 * lets the stand-in write its records into the test's tree ({@link EnvoyStandInFixture#sandboxDropIn}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DebInstallIT {
    private static final String UNIT = "istio-vm-agent.service";
    private static final String ID = TestCa.identity("vm", "default");
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Path REPO = AgentProcess.repositoryRoot();
    private static final Path TARGET = REPO.resolve("integration-tests/target");
    private static final Path PACKAGES = REPO.resolve("agent-packaging/target");
    private static final Path SOCKETS = Path.of("/run/vmit-d");
    private static final String DEB = "/root/istio-vm-agent.deb";
    private static final String DEB_UPGRADE = "/root/istio-vm-agent-upgrade.deb";
    private static final String AGENT_JVM = "istio-vm-agent.jar run";
    /** Keys of the stand-in fixture's configuration the installed agent takes at their defaults instead. */
    private static final Set<String> DEFAULTED = Set.of("VM_AGENT_ENVOY_BINARY", "ENVOY_USER", "VM_AGENT_SDS_SOCKET",
            "VM_AGENT_ENVOY_CONFIG_DIR", "OUTPUT_CERTS", "PROV_CERT", "ISTIO_CUSTOM_IP_TABLES",
            "VM_AGENT_HOSTS_FILE");
    private static final Pattern INVOCATION = Pattern.compile("\"_SYSTEMD_INVOCATION_ID\":\"([0-9a-f]+)\"");

    private static StandInContainer fixture;
    private static SystemdContainer box;
    private static EnvoyStandInFixture standIn;
    private static TestCa ca;
    private static Path deb;
    private static String upgradeVersion;

    @BeforeAll
    static void bootAndBuild() throws Exception {
        try (Stream<Path> files = Files.list(PACKAGES)) {
            List<Path> debs = files.filter(p -> p.getFileName().toString().matches("istio-vm-agent_.*_amd64\\.deb"))
                    .toList();
            assertThat(debs).as("exactly one .deb in %s", PACKAGES).hasSize(1);
            deb = debs.get(0);
        }
        // The upgrade: the same tree built again by the package's own script, one Debian revision step higher.
        String version = host("dpkg-deb", "--field", deb.toString(), "Version").strip();
        upgradeVersion = version + ".1";
        Path upgradeDir = Files.createDirectories(TARGET.resolve("deb-upgrade"));
        String built = host("sh", REPO.resolve("deb/build-deb.sh").toString(), AgentProcess.jar().toString(),
                "0", upgradeDir.toString(), upgradeVersion).strip();
        host("dpkg", "--compare-versions", upgradeVersion, "gt", version);
        fixture = StandInContainer.boot(SOCKETS, "deb-it");
        box = fixture.box();
        standIn = fixture.standIn();
        ca = fixture.ca();
        System.out.println("package " + deb.getFileName() + ", " + Files.size(deb) / 1024 + " KiB");
        box.copyIn(deb, DEB, "rw-r--r--");
        box.copyIn(Path.of(built), DEB_UPGRADE, "rw-r--r--");
        // Where Istio's istio-sidecar.deb put Envoy: the stand-in's launcher (it names Istio's extensions, which
        // the agent looks for in the binary).
        box.copyIn(standIn.binary(), "/usr/local/bin/envoy", "rwxr-xr-x");
        Path pems = Files.createDirectories(TARGET.resolve("deb-it-pems"));
        ca.writeIdentity(pems, ID, Duration.ofHours(2));
        for (String pem : List.of("root-cert.pem", "cert-chain.pem", "key.pem")) {
            box.copyIn(pems.resolve(pem), "/root/" + pem, "rw-------");
        }
        writeConfiguration();
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    /**
     * The guide's cluster.env, then what points the agent at the test CA and the stand-in; each key only root may
     * set goes to /etc/default/istio-vm-agent instead ({@link GuideSettings}), as README tells users to do, since
     * the guide's chown hands cluster.env to istio-proxy.
     */
    private static void writeConfiguration() throws IOException {
        String[] test = {"CA_ADDR=" + ca.address(), "CITADEL_ADDRESS=" + ca.address(), "ISTIO_NAMESPACE=vm",
                "ISTIO_META_CLUSTER_ID=vm-cluster", "ISTIO_SVC_IP=" + box.containerAddress(),
                "VM_AGENT_CA_BACKOFF_MAX=1s", "VM_AGENT_CA_TIMEOUT=5s"};
        GuideSettings settings = new GuideSettings()
                .putLines(Files.readAllLines(REPO.resolve("examples/seed/cluster.env")), key -> !DEFAULTED.contains(key))
                .putLines(standIn.clusterEnv(test).lines().toList(), key -> !DEFAULTED.contains(key));
        box.writeFile("/root/cluster.env", settings.clusterEnv("The guide's values, the test CA and the Envoy stand-in"),
                "rw-r--r--");
        box.writeFile("/root/agent.env", settings.rootOnly("Root-only keys of the test (DebInstallIT)"), "rw-r--r--");
    }

    /** The guide's VM steps, word for word, after the package is installed. */
    private static void followTheGuide(String deb) {
        box.exec(Duration.ofSeconds(120), "dpkg", "-i", deb).ok();
        box.exec("mkdir", "-p", "/etc/certs").ok();
        box.exec("sh", "-c", "cp /root/root-cert.pem /root/cert-chain.pem /root/key.pem /etc/certs").ok();
        box.exec("cp", "/root/cluster.env", "/var/lib/istio/envoy").ok();
        box.exec("chown", "-R", "istio-proxy", "/etc/certs", "/var/lib/istio/envoy").ok();
        // In place of the guide's hosts line for the gateway: the root-only keys, in the unit's environment file.
        box.exec("cp", "/root/agent.env", "/etc/default/istio-vm-agent").ok();
    }

    /** The stand-in writes its records and hot-restart sockets as istio-proxy, into the test's tree. */
    private static void letTheStandInWriteItsRecords() throws IOException {
        box.exec("chown", "istio-proxy", standIn.record().toString(), standIn.shmDir().toString()).ok();
        box.writeFile("/etc/systemd/system/" + UNIT + ".d/test.conf",
                "[Service]\n" + standIn.sandboxDropIn(), "rw-r--r--");
        box.exec("systemctl", "daemon-reload").ok();
    }

    @Test
    @Order(1)
    void theGuidesCommandsInstallAndStartOneAgentThatIsReady() throws Exception {
        followTheGuide(DEB);
        // Enabled for boot, not started: there was no cluster.env at install time.
        assertThat(box.exec("systemctl", "is-enabled", UNIT).out().strip()).isEqualTo("enabled");
        assertThat(box.exec("systemctl", "is-active", UNIT).out().strip()).isEqualTo("inactive");
        letTheStandInWriteItsRecords();

        long started = System.nanoTime();
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio-auth-node-agent").ok();
        long readyMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        Map<String, String> first = state();
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio").ok();
        Map<String, String> second = state();
        System.out.println("systemctl start istio-auth-node-agent -> READY, first start (trains the launcher's"
                + " class-data archive): " + readyMillis + " ms");

        assertThat(first.get("ActiveState")).as("%s\n%s", first, journalTail()).isEqualTo("active");
        assertThat(first.get("StatusText")).startsWith("ready: " + ID);
        assertThat(second.get("MainPID")).as("the second name is the same, running unit").isEqualTo(
                first.get("MainPID"));
        assertOneAgentAndOneEnvoyAsIstioProxy();
        assertThat(natRules()).contains("--dport 8888").contains("172.21.0.0/16").contains("istio-vm-agent");
        String hosts = box.exec("cat", "/etc/hosts").ok().out();
        assertThat(hosts).contains("# BEGIN istio-vm-agent").containsPattern("192\\.0\\.2\\.10\\s+istio-citadel");
        Set<String> priorities = StandInContainer.priorities(box.journal(UNIT, "-o", "json",
                "_SYSTEMD_INVOCATION_ID=" + first.get("InvocationID")));
        assertThat(priorities).as("journal priorities of the start").contains("6");
        System.out.println("journalctl -u istio-vm-agent (start-up):\n"
                + box.journal(UNIT, "-o", "short-precise", "-n", "25", "--output-fields=PRIORITY,MESSAGE"));
        System.out.println("systemd-analyze security (in the container):\n"
                + box.exec("systemd-analyze", "security", "--no-pager", UNIT).out());
    }

    @Test
    @Order(2)
    void eitherOrderOfTheGuidesTwoStartsGivesTheSameOneAgent() {
        box.exec(Duration.ofSeconds(90), "systemctl", "stop", "istio").ok();
        assertThat(state().get("ActiveState")).isEqualTo("inactive");
        long started = System.nanoTime();
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio").ok();
        System.out.println("systemctl start istio -> READY, second start (class-data archive mapped): "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started) + " ms");
        String pid = state().get("MainPID");
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio-auth-node-agent").ok();
        assertThat(state().get("MainPID")).isEqualTo(pid);
        assertThat(state().get("StatusText")).startsWith("ready");
        assertOneAgentAndOneEnvoyAsIstioProxy();
        // The first run trained the launcher's class-data archive as it exited; this second start checked it and
        // maps it, under the unit's sandbox.
        String archives = box.exec("sh", "-c", "ls /var/lib/istio-vm-agent/ | grep '^cds-.*\\.jsa$'").out();
        assertThat(archives.lines().toList()).as("the promoted archive").hasSize(1);
        assertThat(box.exec("grep", "-c", "/var/lib/istio-vm-agent/" + archives.strip(), "/proc/" + pid + "/maps")
                .out().strip()).isNotEqualTo("0");
    }

    @Test
    @Order(3)
    void aSigkilledAgentLeavesNoEnvoyAndNoRulesAndIsRestartedReady() {
        Map<String, String> before = state();
        int restarts = Integer.parseInt(before.get("NRestarts"));
        box.exec("systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", UNIT).ok();
        // RestartSec=2s: ExecStopPost= has removed the rules when the unit waits to restart.
        awaitState("the unit waits to restart after the SIGKILL", s -> s.get("SubState").equals("auto-restart"));
        assertThat(natRules()).as("no capture while the agent is down").doesNotContain("istio-vm-agent");
        assertThat(standIn.alivePids()).as("no Envoy outlives the agent").isEmpty();
        awaitState("the restarted agent is READY", s -> s.get("ActiveState").equals("active")
                && s.get("StatusText").startsWith("ready") && !s.get("MainPID").equals(before.get("MainPID")));
        assertThat(Integer.parseInt(state().get("NRestarts"))).isEqualTo(restarts + 1);
        assertOneAgentAndOneEnvoyAsIstioProxy();
        assertThat(natRules()).contains("istio-vm-agent");
    }

    @Test
    @Order(4)
    void anUpgradeRestartsTheRunningAgentOnceAndEndsReady() {
        Map<String, String> before = state();
        String since = box.exec("date", "+%s.%N").ok().out().strip();
        box.exec(Duration.ofSeconds(180), "dpkg", "-i", DEB_UPGRADE).ok();
        assertThat(box.exec("dpkg-query", "-W", "-f=${Version}", "istio-vm-agent").ok().out())
                .isEqualTo(upgradeVersion);
        awaitState("the upgraded agent is READY", s -> s.get("ActiveState").equals("active")
                && s.get("StatusText").startsWith("ready"));
        Map<String, String> after = state();
        assertThat(after.get("InvocationID")).isNotEqualTo(before.get("InvocationID"));
        Set<String> invocations = new TreeSet<>();
        Matcher m = INVOCATION.matcher(box.journal(UNIT, "-o", "json", "--since=@" + since));
        while (m.find()) {
            invocations.add(m.group(1));
        }
        invocations.remove(before.get("InvocationID"));
        assertThat(invocations).as("started once by the upgrade").containsExactly(after.get("InvocationID"));
        assertOneAgentAndOneEnvoyAsIstioProxy();
    }

    @Test
    @Order(5)
    void removeStopsTheAgentAndTakesTheRulesOutKeepingTheConfiguration() {
        box.exec(Duration.ofSeconds(120), "dpkg", "-r", "istio-vm-agent").ok();
        assertThat(box.exec("pgrep", "-f", AGENT_JVM).exit()).as("no agent JVM").isNotZero();
        assertThat(standIn.alivePids()).isEmpty();
        assertThat(box.exec("iptables-save").ok().out()).doesNotContain("istio-vm-agent");
        assertThat(box.exec("cat", "/etc/hosts").ok().out()).doesNotContain("istio-vm-agent");
        assertThat(box.exec("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "istio-vm-agent").out())
                .startsWith("rc");
        assertThat(box.exec("test", "-f", "/var/lib/istio/envoy/cluster.env").exit()).isZero();
        assertThat(box.exec("test", "-f", "/etc/certs/cert-chain.pem").exit()).isZero();
        assertThat(box.exec("test", "-f", "/etc/default/istio-vm-agent").exit()).as("the conffile").isZero();
    }

    @Test
    @Order(6)
    void purgeLeavesNoTraceOfTheAgentAndKeepsTheCertificatesAndClusterEnv() {
        box.exec(Duration.ofSeconds(120), "dpkg", "-P", "istio-vm-agent").ok();
        assertThat(box.exec("dpkg-query", "-W", "istio-vm-agent").exit()).isNotZero();
        assertThat(box.exec("iptables-save").ok().out()).doesNotContain("istio-vm-agent");
        assertThat(box.exec("cat", "/etc/hosts").ok().out()).doesNotContain("istio-vm-agent");
        for (String gone : List.of("/var/lib/istio-vm-agent", "/run/istio-vm-agent", "/etc/istio/proxy",
                "/var/lib/istio-vm-agent-package", "/lib/systemd/system/" + UNIT, "/usr/bin/istio-vm-agent",
                "/etc/systemd/system/multi-user.target.wants/" + UNIT, "/etc/default/istio-vm-agent")) {
            assertThat(box.exec("test", "-e", gone).exit()).as("%s is gone", gone).isNotZero();
        }
        // The agent's identity versions and generated files in /etc/certs are its own; the user's PEMs stay.
        for (String kept : List.of("/etc/certs/root-cert.pem", "/etc/certs/cert-chain.pem", "/etc/certs/key.pem",
                "/var/lib/istio/envoy/cluster.env")) {
            assertThat(box.exec("test", "-f", kept).exit()).as("%s is kept", kept).isZero();
        }
        assertThat(box.exec("getent", "passwd", "istio-proxy").exit()).as("the user it created").isNotZero();
        assertThat(box.exec("getent", "group", "istio-vm-agent").exit()).isNotZero();
    }

    @Test
    @Order(7)
    void aReinstallAfterPurgeFollowsTheGuideAgainToReady() throws Exception {
        followTheGuide(DEB);
        letTheStandInWriteItsRecords();
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio-auth-node-agent").ok();
        box.exec(Duration.ofSeconds(120), "systemctl", "start", "istio").ok();
        assertThat(state().get("StatusText")).as(journalTail()).startsWith("ready: " + ID);
        assertOneAgentAndOneEnvoyAsIstioProxy();
        box.exec(Duration.ofSeconds(90), "systemctl", "stop", UNIT).ok();
        assertThat(natRules()).doesNotContain("istio-vm-agent");
    }

    private void assertOneAgentAndOneEnvoyAsIstioProxy() {
        assertThat(box.exec("pgrep", "-c", "-f", AGENT_JVM).out().strip()).as("agent JVMs").isEqualTo("1");
        String marker = "envoy.standin.dir=";
        assertThat(box.exec("pgrep", "-c", "-f", marker).out().strip()).as("Envoys").isEqualTo("1");
        assertThat(box.exec("pgrep", "-c", "-u", "istio-proxy", "-f", marker).out().strip())
                .as("Envoys running as istio-proxy").isEqualTo("1");
    }

    private Map<String, String> state() {
        return box.show(UNIT, "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result",
                "InvocationID");
    }

    private void awaitState(String what, java.util.function.Predicate<Map<String, String>> test) {
        try {
            SystemdContainer.awaitTrue(what, WAIT, () -> test.test(state()));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nstate: " + state() + "\n" + journalTail(), e);
        }
    }

    private String journalTail() {
        String text = box.journal(UNIT, "-n", "60", "-o", "short-precise");
        return "journal:\n" + (text.length() > 6000 ? text.substring(text.length() - 6000) : text);
    }

    private String natRules() {
        return box.exec("iptables-save", "-t", "nat").ok().out();
    }

    /** A host command's standard output; fails the test on a non-zero exit. */
    private static String host(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        byte[] out = process.getInputStream().readAllBytes();
        assertThat(process.waitFor(300, TimeUnit.SECONDS)).as("%s finished", List.of(command)).isTrue();
        String text = new String(out, StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as("%s: %s", List.of(command), text).isZero();
        return text;
    }
}
