package io.istiovm.agent.it.systemd;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.it.envoy.EnvoyStandInFixture;
import io.istiovm.agent.testing.TestCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 12's acceptance under a real systemd 252 ({@link SystemdContainer}): the repository's unit
 * ({@code systemd/istio-vm-agent.service}, used as it is, plus a test drop-in) runs the packaged jar, installed by
 * hand where the .deb will put it, with the Envoy stand-in and the test CA (in this JVM, on the host end of the
 * container's veth). Every wait polls systemd's own view ({@code systemctl show}) with a deadline.
 *
 * <p>The drop-in changes only what makes the test possible or quick, each line says why; everything else (Type=notify,
 * NotifyAccess=main, ExecReload, ExecStopPost, SuccessExitStatus, Restart=, the sandbox) is the shipped unit's.
 */
class SystemdUnitIT {
    private static final String UNIT = "istio-vm-agent.service";
    private static final String JAR = "/usr/share/istio-vm-agent/istio-vm-agent.jar";
    private static final String CLUSTER_ENV = "/var/lib/istio/envoy/cluster.env";
    private static final String HANG_TRIGGER = "/run/vmit-hang";
    private static final String ID = TestCa.identity("vm", "default");
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Path REPO = AgentProcess.repositoryRoot();
    /** The stand-in's sockets: not under /tmp, which the container's systemd-tmpfiles empties at boot. */
    private static final Path SOCKETS = Path.of("/run/vmit-s");

    private static StandInContainer fixture;
    private static SystemdContainer box;
    private static EnvoyStandInFixture standIn;
    private static TestCa ca;
    private static Path gate;

    @BeforeAll
    static void bootAndInstall() throws Exception {
        fixture = StandInContainer.boot(SOCKETS, "systemd-it");
        box = fixture.box();
        standIn = fixture.standIn();
        ca = fixture.ca();
        gate = standIn.dir().resolve("live-gate");
        ca.writeIdentity(standIn.certsDir(), ID, Duration.ofHours(2));
        box.copyIn(AgentProcess.jar(), JAR, "rw-r--r--");
        box.copyIn(REPO.resolve("deb/launcher"), "/usr/bin/istio-vm-agent", "rwxr-xr-x");
        box.copyIn(REPO.resolve("systemd/istio-vm-agent.service"), "/etc/systemd/system/" + UNIT, "rw-r--r--");
        // What the package's postinst and tmpfiles.d do (DebInstallIT installs the package itself).
        box.exec("addgroup", "--system", "--quiet", "istio-vm-agent").ok();
        box.exec("install", "-d", "-m", "0755", "/run/secrets").ok();
        box.exec("touch", "/run/xtables.lock").ok();
        box.writeFile("/etc/systemd/system/" + UNIT + ".d/test.conf", String.join("\n",
                "[Service]",
                standIn.sandboxDropIn(),
                "# The hang fault for the watchdog test (README \"systemd\"): armed in every run, it fires only once",
                "# " + HANG_TRIGGER + " exists. Arming it logs a warning: the deterministic PRIORITY=4 line.",
                "Environment=JAVA_TOOL_OPTIONS=-Distio-vm-agent.test.hang-loop=envoy:" + HANG_TRIGGER,
                "# 10 s instead of 30 s: the watchdog test waits for systemd's verdict; the agent pings at half of it.",
                "WatchdogSec=10s",
                ""), "rw-r--r--");
        box.writeFile("/etc/istio-vm-agent-test/sshd_config", "Port 22\n", "rw-r--r--");
        box.exec("systemctl", "daemon-reload").ok();
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (fixture != null) {
            fixture.close();
        }
    }

    /** Every test starts from a stopped unit, the default configuration, no faults. */
    @BeforeEach
    void stoppedWithDefaults() throws Exception {
        box.exec("systemctl", "stop", UNIT);
        box.exec("systemctl", "reset-failed", UNIT);
        box.exec("rm", "-f", HANG_TRIGGER);
        Files.deleteIfExists(gate);
        standIn.faults("");
        writeClusterEnv();
    }

    private void writeClusterEnv(String... overrides) throws Exception {
        List<String> settings = new ArrayList<>(List.of(
                "CA_ADDR=" + ca.address(), "CITADEL_ADDRESS=" + ca.address(),
                "ISTIO_NAMESPACE=vm", "ISTIO_META_CLUSTER_ID=vm-cluster",
                "PROV_CERT=" + standIn.certsDir(), "OUTPUT_CERTS=" + standIn.certsDir(),
                "VM_AGENT_CERTS_OWNER=4242", "VM_AGENT_CA_BACKOFF_MAX=1s", "VM_AGENT_CA_TIMEOUT=2s",
                // The container's netns and /etc/hosts are throw-away: the real capture rules and hosts block.
                "ISTIO_CUSTOM_IP_TABLES=false", "VM_AGENT_HOSTS_FILE=/etc/hosts",
                "ISTIO_SVC_IP=" + box.containerAddress(), "ISTIO_INBOUND_PORTS=8080",
                "VM_AGENT_SSHD_CONFIG=/etc/istio-vm-agent-test/sshd_config",
                // Bounds the watchdog's staleness (the longest step plus 15 s: 20 s) while leaving the held-not-LIVE
                // start test time to look.
                "VM_AGENT_ENVOY_LIVE_TIMEOUT=5s"));
        settings.addAll(List.of(overrides));
        box.writeFile(CLUSTER_ENV, standIn.clusterEnv(settings.toArray(String[]::new)), "rw-r--r--");
    }

    private Map<String, String> state() {
        return box.show(UNIT, "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result",
                "InvocationID");
    }

    private void awaitState(String what, Duration deadline, java.util.function.Predicate<Map<String, String>> test) {
        try {
            SystemdContainer.awaitTrue(what, deadline, () -> test.test(state()));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nstate: " + state() + "\njournal:\n"
                    + tail(box.journal(UNIT, "-n", "60", "-o", "short-precise")), e);
        }
    }

    private static String tail(String text) {
        return text.length() > 6000 ? text.substring(text.length() - 6000) : text;
    }

    private Map<String, String> startAndAwaitReady() {
        box.exec(Duration.ofSeconds(120), "systemctl", "start", UNIT).ok();
        Map<String, String> s = state();
        assertThat(s.get("ActiveState")).as("after systemctl start: %s\n%s", s, box.journal(UNIT, "-n", "40"))
                .isEqualTo("active");
        return s;
    }

    private String natRules() {
        return box.exec("iptables-save", "-t", "nat").ok().out();
    }

    @Test
    void startReturnsOnlyAfterReadyWhileEnvoyIsNotLiveTheUnitIsActivating() throws Exception {
        standIn.faults("live_when_exists=" + gate);
        box.exec("systemctl", "start", "--no-block", UNIT).ok();
        // The agent has started Envoy and waits for LIVE: systemd still says activating.
        awaitState("the agent waits for Envoy to become LIVE", WAIT,
                s -> s.get("StatusText").contains("LIVE") && !standIn.alivePids().isEmpty());
        assertThat(state().get("ActiveState")).isEqualTo("activating");
        assertThat(state().get("SubState")).isEqualTo("start");

        // A blocking start now returns only once READY=1 arrives, i.e. after the release.
        CompletableFuture<SystemdContainer.Result> blocking = CompletableFuture.supplyAsync(
                () -> box.exec(Duration.ofSeconds(120), "systemctl", "start", UNIT));
        awaitTrue("the blocking systemctl start is waiting in the container",
                () -> box.exec("pgrep", "-f", "^systemctl start " + UNIT).exit() == 0);
        assertThat(blocking).isNotDone();
        assertThat(state().get("ActiveState")).isEqualTo("activating");
        Instant released = Instant.now();
        Files.writeString(gate, "");
        SystemdContainer.Result result = blocking.get(120, TimeUnit.SECONDS);
        Instant returned = Instant.now();
        assertThat(result.exit()).as("%s", result).isZero();
        Map<String, String> after = state();
        assertThat(after.get("ActiveState")).isEqualTo("active");
        assertThat(after.get("SubState")).isEqualTo("running");
        assertThat(after.get("StatusText")).startsWith("ready");
        assertThat(returned).isAfter(released);
        System.out.println("systemctl start returned " + Duration.between(released, returned).toMillis()
                + " ms after the stand-in was let go LIVE");
    }

    @Test
    void systemctlStatusShowsTheReadyStatusLine() {
        Map<String, String> s = startAndAwaitReady();
        String status = box.exec("systemctl", "status", "--no-pager", "-n", "0", UNIT).out();
        System.out.println("systemctl status:\n" + status);
        // The components' facts (identity, Envoy epoch, rules, hosts) in A's format: README "systemd".
        assertThat(s.get("StatusText")).startsWith("ready: " + ID).contains("epoch ");
        assertThat(status).contains("Active: active (running)").contains("Status: \"ready: " + ID);
    }

    @Test
    void aHungComponentLoopStopsTheWatchdogPingsAndSystemdRestartsTheAgent() {
        Map<String, String> before = startAndAwaitReady();
        String oldPid = before.get("MainPID");
        int restarts = Integer.parseInt(before.get("NRestarts"));
        Instant hung = Instant.now();
        box.exec("touch", HANG_TRIGGER).ok();
        // Stale after 20 s, then WatchdogSec=10 s, SIGQUIT, TimeoutAbortSec=5 s, SIGKILL: the old agent is gone.
        awaitState("systemd kills the agent whose envoy loop hangs", Duration.ofSeconds(90),
                s -> !s.get("MainPID").equals(oldPid));
        Duration killedAfter = Duration.between(hung, Instant.now());
        // RestartSec=5s leaves time to disarm the trigger before the new agent's loop checks in, and to read why
        // systemd stopped it: the next start resets Result=.
        box.exec("rm", "-f", HANG_TRIGGER).ok();
        // ExecStopPost= (the capture clean-up) runs first, then the unit waits out RestartSec= in auto-restart.
        awaitState("the unit waits to restart", Duration.ofSeconds(30), s -> s.get("SubState").equals("auto-restart"));
        assertThat(state().get("Result")).isEqualTo("watchdog");
        assertThat(natRules()).as("no capture left while the agent is down").doesNotContain("istio-vm-agent");
        awaitState("the restarted agent is READY again", Duration.ofSeconds(90),
                s -> s.get("ActiveState").equals("active") && s.get("StatusText").startsWith("ready")
                        && !s.get("MainPID").equals("0") && !s.get("MainPID").equals(oldPid));
        Map<String, String> after = state();
        assertThat(Integer.parseInt(after.get("NRestarts"))).isEqualTo(restarts + 1);
        System.out.println("watchdog: agent killed " + killedAfter.toSeconds() + " s after the loop hung, pid "
                + oldPid + " -> " + after.get("MainPID"));
    }

    @Test
    void reloadReconcilesAChangedClusterEnvWithoutANewEnvoy() throws Exception {
        Map<String, String> before = startAndAwaitReady();
        List<Long> envoy = standIn.alivePids();
        assertThat(envoy).hasSize(1);
        assertThat(natRules()).contains("--dport 8080").doesNotContain("--dport 8888");

        writeClusterEnv("ISTIO_INBOUND_PORTS=8080,8888");
        box.exec("systemctl", "reload", UNIT).ok();
        awaitTrue("the reload adds the capture of port 8888", () -> natRules().contains("--dport 8888"));
        awaitState("the agent is READY after the reload", WAIT, s -> s.get("ActiveState").equals("active")
                && s.get("StatusText").startsWith("ready"));
        assertThat(standIn.alivePids()).isEqualTo(envoy);
        assertThat(state().get("MainPID")).isEqualTo(before.get("MainPID"));
    }

    @Test
    void stopEndsInactiveNotFailedWithTheCaptureRulesGone() {
        startAndAwaitReady();
        assertThat(natRules()).contains("istio-vm-agent");

        box.exec(Duration.ofSeconds(90), "systemctl", "stop", UNIT).ok();
        Map<String, String> s = state();
        assertThat(s.get("ActiveState")).isEqualTo("inactive");
        assertThat(s.get("Result")).isEqualTo("success");
        assertThat(box.exec("systemctl", "is-failed", "--quiet", UNIT).exit()).isNotZero();
        assertThat(natRules()).doesNotContain("istio-vm-agent");
        assertThat(box.exec("iptables-save").ok().out()).doesNotContain("istio-vm-agent");
        assertThat(standIn.alivePids()).isEmpty();
    }

    @Test
    void theJournalHasPriorities3And4And6AndTheAgentsFieldsAndPriorityFiltersWork() throws Exception {
        Map<String, String> s = startAndAwaitReady();
        // A refused reload: an error (3); the test fault armed by the drop-in: a warning (4).
        writeClusterEnv("ISTIO_INBOUND_PORTS=8080,notaport");
        box.exec("systemctl", "reload", UNIT).ok();
        awaitState("the reload is refused", WAIT, st -> st.get("StatusText").contains("reload refused"));
        String invocation = "_SYSTEMD_INVOCATION_ID=" + s.get("InvocationID");
        String json = box.journal(UNIT, "-o", "json", invocation);
        Set<String> priorities = StandInContainer.priorities(json);
        System.out.println("journal priorities of one run: " + priorities);
        assertThat(priorities).contains("3", "4", "6");
        assertThat(json).contains("\"COMPONENT\":\"envoy\"").contains("\"ENVOY_EPOCH\":");
        String warnings = box.journal(UNIT, "-o", "json", "-p", "warning", invocation);
        assertThat(StandInContainer.priorities(warnings)).contains("3", "4").doesNotContain("5", "6", "7");
        // The identity's serial as a field of its own (issue 12: "custom fields (COMPONENT, CERT_SERIAL, ...)").
        assertThat(json).contains("\"CERT_SERIAL\":");
        // The identity's history as the operator reads it (journalctl COMPONENT=identity), for the closing note.
        String identity = box.journal(UNIT, "-o", "json-pretty", "COMPONENT=identity", invocation);
        assertThat(identity).contains("\"CERT_SERIAL\"").contains("\"SPIFFE_ID\"");
        System.out.println("journalctl -o json-pretty COMPONENT=identity:\n" + identity);
    }

    private static void awaitTrue(String what, java.util.function.BooleanSupplier condition) {
        SystemdContainer.awaitTrue(what, WAIT, condition);
    }
}
