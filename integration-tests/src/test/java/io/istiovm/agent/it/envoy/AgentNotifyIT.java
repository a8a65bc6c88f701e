package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.testing.Await;
import io.istiovm.agent.testing.TestIdentities;
import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged agent ({@code run}) under a stand-in for systemd: $NOTIFY_SOCKET names a datagram socket this test
 * bound, and the test reads what the agent tells systemd. READY=1 comes only after the Envoy stand-in is LIVE (the
 * stand-in is held at a gate until then), SIGHUP is RELOADING=1 with MONOTONIC_USEC= then READY=1, SIGTERM is
 * STOPPING=1 and a clean exit, and the watchdog pings stop once the test fault hangs the envoy loop.
 */
class AgentNotifyIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Pattern MONOTONIC = Pattern.compile("MONOTONIC_USEC=(\\d+)");

    private EnvoyStandInFixture standIn;
    private AgentProcess agent;
    private Path configDir;
    private EnvoyGate gate;
    private Path socketDir;
    private UnixDatagramSocket systemd;
    private Thread reader;
    /** Every datagram received, in order, with System.nanoTime() at its arrival. */
    private final List<Datagram> received = new CopyOnWriteArrayList<>();

    private record Datagram(long nanos, String text) {
    }

    @BeforeEach
    void create() throws Exception {
        standIn = new EnvoyStandInFixture();
        TestIdentities.writeFiles(new TestIdentities().issue("bar", "httpbin"), standIn.certsDir());
        configDir = Files.createDirectories(standIn.dir().resolve("agent-config"));
        gate = new EnvoyGate(standIn);
        // Short steps: the envoy loop's staleness bound is its longest step's deadline (the longer of the LIVE
        // timeout and the fixture's 5 s stop timeout) plus 15 s, so its hang stops the pings within about 20 s.
        Files.writeString(configDir.resolve("cluster.env"), standIn.clusterEnv(
                "VM_AGENT_ENVOY_BINARY=" + gate.binary(), "VM_AGENT_ENVOY_LIVE_TIMEOUT=1s"));
        socketDir = Files.createTempDirectory(Path.of("/tmp"), "x-nit");
        systemd = UnixDatagramSocket.bind(UnixAddress.path(socketDir.resolve("notify").toString()));
        reader = new Thread(this::read, "notify-reader");
        reader.setDaemon(true);
        reader.start();
    }

    private void read() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Optional<byte[]> datagram = systemd.receive(Duration.ofMillis(200), 8192);
                datagram.ifPresent(d -> received.add(new Datagram(System.nanoTime(),
                        new String(d, StandardCharsets.UTF_8))));
            }
        } catch (IOException e) {
            // the socket was closed: the test is over
        }
    }

    @AfterEach
    void remove() throws Exception {
        if (agent != null) {
            agent.kill();
        }
        reader.interrupt();
        reader.join();
        systemd.close();
        Files.deleteIfExists(socketDir.resolve("notify"));
        Files.deleteIfExists(socketDir.resolve("hang"));
        Files.deleteIfExists(socketDir);
        standIn.close();
    }

    private void startAgent(List<String> jvmFlags, Map<String, String> environment) throws IOException {
        agent = AgentProcess.start(jvmFlags, standIn.dir().resolve("agent.log"), environment, "run",
                "--config-dir", configDir.toString());
    }

    private Map<String, String> notifyEnvironment(String... more) {
        Map<String, String> env = new java.util.HashMap<>();
        env.put("NOTIFY_SOCKET", socketDir.resolve("notify").toString());
        for (int i = 0; i < more.length; i += 2) {
            env.put(more[i], more[i + 1]);
        }
        return env;
    }


    private List<String> texts() {
        return received.stream().map(Datagram::text).toList();
    }

    private String seen() {
        return String.join("\n---\n", texts()) + "\n=== agent log\n" + agent.logText();
    }

    /** The datagrams from index {@code from} on. */
    private List<String> since(int from) {
        return received.subList(from, received.size()).stream().map(Datagram::text).toList();
    }

    private void awaitDatagram(String what, java.util.function.Predicate<String> matching) throws Exception {
        Await.until(what, WAIT, () -> texts().stream().anyMatch(matching), this::seen);
    }

    @Test
    void readyOnlyOnceEnvoyIsLiveThenReloadingReadyAndStoppingOnSignals() throws Exception {
        startAgent(List.of(), notifyEnvironment());
        gate.awaitHeld(WAIT, this::seen);
        awaitDatagram("STATUS says envoy is not ready", t -> t.startsWith("STATUS=") && t.contains("envoy: "));
        assertThat(texts()).as("no READY while Envoy is not LIVE").noneMatch(t -> t.contains("READY=1"));

        gate.open();
        awaitDatagram("READY=1", t -> t.contains("READY=1"));
        String ready = texts().stream().filter(t -> t.contains("READY=1")).findFirst().orElseThrow();
        assertThat(ready).startsWith("READY=1\nSTATUS=ready");
        assertThat(standIn.admin("/ready")).contains("200 LIVE\n");
        System.out.println("AgentNotifyIT: first READY datagram: " + ready.replace("\n", " | "));
        for (long pid : standIn.alivePids()) {
            assertThat(Files.readString(Path.of("/proc", Long.toString(pid), "environ")))
                    .as("Envoy is not handed systemd's notify socket").doesNotContain("NOTIFY_SOCKET");
        }

        int before = received.size();
        long sentAfter = System.nanoTime() / 1000;
        agent.reload();
        Await.until("READY=1 after the reload", WAIT, () -> since(before).stream()
                .anyMatch(t -> t.contains("READY=1")), this::seen);
        List<String> reload = since(before);
        assertThat(reload.get(0)).startsWith("RELOADING=1\nMONOTONIC_USEC=").endsWith("\nSTATUS=reloading");
        Matcher monotonic = MONOTONIC.matcher(reload.get(0));
        assertThat(monotonic.find()).isTrue();
        // The same CLOCK_MONOTONIC as this JVM's nanoTime: between the test's send and now.
        assertThat(Long.parseLong(monotonic.group(1))).isBetween(sentAfter, System.nanoTime() / 1000);
        assertThat(reload).last().asString().startsWith("READY=1\nSTATUS=ready");

        int beforeStop = received.size();
        agent.terminate();
        int exit = agent.waitFor(WAIT);
        System.out.println("AgentNotifyIT: exit code after SIGTERM: " + exit + "; sent: "
                + String.join(" | ", since(beforeStop)).replace("\n", " "));
        assertThat(exit).as("a clean stop: 0, or 143 (SuccessExitStatus=143)").isIn(0, 143);
        assertThat(since(beforeStop)).first().asString().startsWith("STOPPING=1");
        assertThat(Files.readString(standIn.hostsFile())).doesNotContain("istio-vm-agent");
        assertThat(standIn.alivePids()).isEmpty();
        agent = null;
    }

    @Test
    void watchdogPingsStopWhenTheTestFaultHangsTheEnvoyLoop() throws Exception {
        Path trigger = socketDir.resolve("hang");
        startAgent(List.of("-D" + "istio-vm-agent.test.hang-loop=envoy:" + trigger),
                notifyEnvironment("WATCHDOG_USEC", "2000000"));
        gate.open();
        awaitDatagram("READY=1", t -> t.contains("READY=1"));
        // Pings every half of WATCHDOG_USEC: at least three within five seconds.
        long from = System.nanoTime();
        Await.until("watchdog pings", WAIT, () -> received.stream().filter(d -> d.nanos() > from
                && d.text().contains("WATCHDOG=1")).count() >= 3, this::seen);

        Files.createFile(trigger);
        long hungAt = System.nanoTime();
        // Within the staleness bound (about 20 s here) the pings stop; then none for 5 s (five intervals).
        Await.until("the pings stop", WAIT, () -> {
            Optional<Datagram> last = received.stream().filter(d -> d.text().contains("WATCHDOG=1"))
                    .reduce((a, b) -> b);
            return last.isPresent() && System.nanoTime() - last.get().nanos() > Duration.ofSeconds(5).toNanos();
        }, this::seen);
        long lastPing = received.stream().filter(d -> d.text().contains("WATCHDOG=1")).mapToLong(Datagram::nanos)
                .max().orElseThrow();
        System.out.println("AgentNotifyIT: pings stopped " + Duration.ofNanos(lastPing - hungAt).toMillis()
                + " ms after the envoy loop hung");
        assertThat(lastPing - hungAt).as("pings went on a while (the loop's step bound), then stopped")
                .isLessThan(Duration.ofSeconds(30).toNanos());
        assertThat(agent.isAlive()).as("the agent itself does not exit: systemd kills it").isTrue();
    }
}
