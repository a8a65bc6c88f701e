package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.testing.Await;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The running watcher against real files and inotify; every wait is on the file's content, with a deadline. */
class HostsComponentTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private HostsScratch scratch;
    private HostsComponent component;
    private byte[] original;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        scratch.dropIn("httpbin-bar-forvms.yaml", HostsGoldenTest.manifest("httpbin-bar-forvms.yaml"));
        original = scratch.targetBytes();
        // A check interval far beyond the test: every change below must arrive through inotify.
        component = new HostsComponent(scratch.inputs(), scratch.target(), Clock.systemUTC(), Duration.ofHours(1),
                new HostsFileWriter());
    }

    @AfterEach
    void tearDown() throws Exception {
        component.stop();
        scratch.close();
    }

    private void awaitTarget(String what, java.util.function.Predicate<String> condition) throws Exception {
        Await.until(what, WAIT, () -> condition.test(scratch.targetText()), scratch::targetText);
    }

    @Test
    void startWritesTheBlockAndStopRemovesIt() throws Exception {
        component.start();
        assertThat(component.ready()).isTrue();
        assertThat(scratch.targetText()).contains("127.255.0.3 httpbin.bar.global ");
        component.stop();
        assertThat(scratch.targetBytes()).isEqualTo(original);
        assertThat(component.ready()).isFalse();
    }

    @Test
    void aChangedSourceIsPickedUp() throws Exception {
        component.start();
        scratch.dropIn("20-more.hosts", "127.255.0.7 more.bar.global\n");
        awaitTarget("new name written", t -> t.contains("127.255.0.7 more.bar.global "));
        Files.delete(scratch.dropIns().resolve("20-more.hosts"));
        awaitTarget("removed name gone", t -> !t.contains("more.bar.global"));
        scratch.hostsSource("192.168.99.1 istiod.istio-system.svc\n");
        awaitTarget("hosts file read", t -> t.contains("VM_AGENT_GATEWAY_ADDRESS (cluster.env:2), hosts:1"));
    }

    @Test
    void anEditOfTheBlockIsRepaired() throws Exception {
        component.start();
        String good = scratch.targetText();
        Files.writeString(scratch.target(), good.replace("127.255.0.3 httpbin", "10.6.6.6 httpbin"));
        awaitTarget("block repaired", good::equals);
    }

    @Test
    void invalidSourcesKeepThePreviousBlockUntilTheyAreFixed() throws Exception {
        component.start();
        byte[] good = scratch.targetBytes();
        scratch.dropIn("20-bad.hosts", "127.255.0.300 broken.global\n127.255.0.8 next.global\n");
        Await.until("not ready", WAIT, () -> !component.ready());
        assertThat(scratch.targetBytes()).isEqualTo(good);
        scratch.dropIn("20-bad.hosts", "127.255.0.8 next.global\n");
        awaitTarget("fixed source applied", t -> t.contains("127.255.0.8 next.global "));
        Await.until("ready again", WAIT, component::ready);
    }

    @Test
    void aDropInDirectoryCreatedLaterIsWatched() throws Exception {
        try (var files = Files.list(scratch.dropIns())) {
            for (var file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(scratch.dropIns());
        component.start();
        scratch.dropIn("late.hosts", "127.255.0.9 late.global\n");
        awaitTarget("late drop-in applied", t -> t.contains("127.255.0.9 late.global "));
    }

    @Test
    void invalidSourcesAtStartFailTheStartAndChangeNothing() throws IOException {
        scratch.dropIn("20-bad.hosts", "127.255.0.3 -bad\n");
        assertThatThrownBy(component::start).isInstanceOf(ConfigException.class)
                .hasMessageContaining("20-bad.hosts:1: bad host name");
        assertThat(scratch.targetBytes()).isEqualTo(original);
    }

    @Test
    void describePrintsThePlanWithoutWriting() {
        StringWriter out = new StringWriter();
        component.describe(new PrintWriter(out, true));
        assertThat(out.toString()).startsWith("# hosts file: " + scratch.target() + " (changes)\n+ "
                + HostsBlock.BEGIN + "\n+ 127.255.0.3 httpbin.bar.global");
        assertThat(scratch.targetBytes()).isEqualTo(original);
    }
}
