package io.istiovm.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine with fake components that record every call in one journal. */
class LifecycleTest {
    private final SteppingClock clock = new SteppingClock(Instant.parse("2026-12-02T00:00:00Z"));
    private final AgentState state = new AgentState(clock);
    private final Lifecycle lifecycle = new Lifecycle(state, new ManualLoops(clock));
    private final List<String> journal = new ArrayList<>();

    /** A component whose plan is a string; it fails where told to. */
    private final class Fake implements Component {
        final String name;
        final String value;
        String failPrepare;
        String failStart;
        String failReload;

        Fake(String name, String value) {
            this.name = name;
            this.value = value;
        }

        Fake failingPrepare(String why) {
            failPrepare = why;
            return this;
        }

        Fake failingStart(String why) {
            failStart = why;
            return this;
        }

        Fake failingReload(String why) {
            failReload = why;
            return this;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Prepared prepare() {
            journal.add("prepare " + name);
            if (failPrepare != null) {
                throw new IllegalArgumentException(failPrepare);
            }
            return new FakePlan(this);
        }
    }

    private final class FakePlan implements Prepared {
        private final Fake component;

        FakePlan(Fake component) {
            this.component = component;
        }

        Fake component() {
            return component;
        }

        @Override
        public void describe(PrintWriter out) {
            out.println(component.name + "=" + component.value);
        }

        @Override
        public Running start(ComponentContext context) {
            journal.add("start " + component.name + "=" + component.value);
            org.slf4j.LoggerFactory.getLogger("fake").info("starting {}", component.name);
            if (component.failStart != null) {
                throw new IllegalStateException(component.failStart);
            }
            context.status().ready("holding " + component.value);
            return new FakeRunning(component.name, component.value, context.status());
        }
    }

    private final class FakeRunning implements Running {
        final String name;
        String value;
        final StatusReporter status;

        FakeRunning(String name, String value, StatusReporter status) {
            this.name = name;
            this.value = value;
            this.status = status;
        }

        @Override
        public Reconciled reload(Prepared next) {
            Fake wanted = ((FakePlan) next).component();
            if (wanted.failReload != null) {
                journal.add("reload " + name + " failed");
                throw new IllegalStateException(wanted.failReload);
            }
            if (wanted.value.equals(value)) {
                journal.add("reload " + name + " unchanged");
                return Reconciled.unchanged();
            }
            journal.add("reload " + name + " " + value + "->" + wanted.value);
            value = wanted.value;
            status.ready("holding " + value);
            return Reconciled.changed(value);
        }

        @Override
        public void stop() {
            journal.add("stop " + name);
        }
    }

    @Test
    void whatAComponentLogsWhileTheEngineStartsItIsItsOwnAndTheEnginesThreadIsGivenBack() throws Exception {
        List<io.istiovm.agent.logging.LogEntry> lines = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (AutoCloseable capture = io.istiovm.agent.logging.AgentLogging.capture(lines::add)) {
            lifecycle.start(lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("identity", "b"))));
        }
        assertThat(lines.stream().filter(l -> l.logger().equals("fake")).map(l -> l.component()))
                .containsExactly("hosts", "identity");
        assertThat(org.slf4j.MDC.get("COMPONENT")).isNull();
    }

    @Test
    void preparesAllBeforeStartingAnyThenStartsInOrderAndStopsInReverse() throws Exception {
        Plan plan = lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("identity", "b"),
                new Fake("capture", "c")));
        assertThat(journal).containsExactly("prepare hosts", "prepare identity", "prepare capture");
        lifecycle.start(plan);
        assertThat(state.snapshot().ready()).isTrue();
        lifecycle.stop();
        lifecycle.stop();
        assertThat(journal).containsExactly("prepare hosts", "prepare identity", "prepare capture",
                "start hosts=a", "start identity=b", "start capture=c", "stop capture", "stop identity", "stop hosts");
        assertThat(state.snapshot().stage()).isEqualTo(AgentState.Stage.STOPPED);
        assertThat(state.snapshot().components()).allMatch(c -> c.phase() == Phase.STOPPED);
    }

    @Test
    void everyPrepareFailureIsReportedAndNothingStarts() {
        assertThatThrownBy(() -> lifecycle.prepare(List.of(new Fake("hosts", "a").failingPrepare("bad hosts.d"),
                new Fake("identity", "b"), new Fake("capture", "c").failingPrepare("sshd port 22 captured"))))
                .isInstanceOfSatisfying(PrepareFailed.class, failed -> assertThat(failed.failures())
                        .extracting(PrepareFailed.Failure::component, f -> f.cause().getMessage())
                        .containsExactly(org.assertj.core.groups.Tuple.tuple("hosts", "bad hosts.d"),
                                org.assertj.core.groups.Tuple.tuple("capture", "sshd port 22 captured")));
        assertThat(journal).containsExactly("prepare hosts", "prepare identity", "prepare capture");
    }

    @Test
    void aFailedStartStopsWhatStartedInReverseAndEndsTheLifecycle() throws Exception {
        Plan plan = lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("identity", "b"),
                new Fake("envoy", "c").failingStart("no binary"), new Fake("capture", "d")));
        assertThatThrownBy(() -> lifecycle.start(plan)).isInstanceOfSatisfying(StartFailed.class, failed -> {
            assertThat(failed.component()).isEqualTo("envoy");
            assertThat(failed.reason()).hasMessage("no binary");
        });
        assertThat(journal).containsSubsequence("start hosts=a", "start identity=b", "start envoy=c",
                "stop identity", "stop hosts").doesNotContain("start capture=d", "stop envoy");
        assertThat(state.snapshot().component("envoy").orElseThrow().phase()).isEqualTo(Phase.FAILED);
        lifecycle.awaitStopped();
        lifecycle.stop();
        assertThat(journal).filteredOn(line -> line.startsWith("stop")).hasSize(2);
    }

    @Test
    void aRefusedReloadChangesNothingAndTheNextGoodReloadReconcilesOnlyWhatChanged() throws Exception {
        lifecycle.start(lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("capture", "c"))));
        journal.clear();

        Lifecycle.ReloadResult refused = lifecycle.reload(List.of(new Fake("hosts", "a2"),
                new Fake("capture", "c2").failingPrepare("ISTIO_INBOUND_PORTS: 22 is sshd's port")));
        assertThat(refused.accepted()).isFalse();
        assertThat(journal).containsExactly("prepare hosts", "prepare capture");
        AgentState.Snapshot afterRefusal = state.snapshot();
        assertThat(afterRefusal.ready()).as("the old configuration still serves").isTrue();
        assertThat(afterRefusal.reloadRefused()).hasValueSatisfying(r -> assertThat(r).contains("sshd's port"));
        assertThat(afterRefusal.summary()).contains("reload refused: capture: ISTIO_INBOUND_PORTS");
        assertThat(afterRefusal.component("hosts").orElseThrow().reason()).isEqualTo("holding a");
        journal.clear();

        Lifecycle.ReloadResult accepted = lifecycle.reload(List.of(new Fake("hosts", "a"), new Fake("capture", "c3")));
        assertThat(accepted.accepted()).isTrue();
        assertThat(accepted.outcomes().get("hosts").changed()).isFalse();
        assertThat(accepted.outcomes().get("capture").summary()).isEqualTo("c3");
        assertThat(journal).containsExactly("prepare hosts", "prepare capture", "reload hosts unchanged",
                "reload capture c->c3");
        assertThat(state.snapshot().reloadRefused()).isEmpty();
        assertThat(state.snapshot().component("capture").orElseThrow().reason()).isEqualTo("holding c3");
    }

    @Test
    void aReloadStopsComponentsThatAreGoneFirstAndStartsNewOnesInPlace() throws Exception {
        lifecycle.start(lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("capture", "c"))));
        journal.clear();
        lifecycle.reload(List.of(new Fake("hosts", "a"), new Fake("envoy", "e")));
        assertThat(journal).containsExactly("prepare hosts", "prepare envoy", "stop capture",
                "reload hosts unchanged", "start envoy=e");
        assertThat(state.snapshot().components()).extracting(ComponentState::name).containsExactly("hosts", "envoy");
        journal.clear();
        lifecycle.stop();
        assertThat(journal).containsExactly("stop envoy", "stop hosts");
    }

    @Test
    void aChangeThatFailsToApplyIsReportedAndTheComponentKeepsRunning() throws Exception {
        lifecycle.start(lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("capture", "c"))));
        Lifecycle.ReloadResult result = lifecycle.reload(List.of(new Fake("hosts", "a2"),
                new Fake("capture", "c2").failingReload("iptables-restore failed")));
        assertThat(result.accepted()).isTrue();
        assertThat(result.failures()).containsOnlyKeys("capture");
        assertThat(result.outcomes()).containsOnlyKeys("hosts");
        journal.clear();
        lifecycle.stop();
        assertThat(journal).containsExactly("stop capture", "stop hosts");
    }

    @Test
    void listenersHearEveryChangeAndTheSummarySaysWhatIsNotReady() throws Exception {
        List<String> summaries = new ArrayList<>();
        state.addListener(snapshot -> summaries.add(snapshot.summary()));
        lifecycle.start(lifecycle.prepare(List.of(new Fake("hosts", "a"))));
        state.reporter("hosts").failed("hosts.d/20-bad.hosts:1: bad host name");
        state.reporter("hosts").ready("holding a");
        assertThat(summaries).contains("hosts: failed (hosts.d/20-bad.hosts:1: bad host name)", "ready");
        assertThat(summaries.get(summaries.size() - 1)).isEqualTo("ready");
        assertThat(state.snapshot().notReady()).isEmpty();
    }

    @Test
    void thePlanDescribesEveryComponentUnderItsName() throws Exception {
        StringWriter out = new StringWriter();
        lifecycle.prepare(List.of(new Fake("hosts", "a"), new Fake("capture", "c"))).describe(new PrintWriter(out));
        assertThat(out.toString()).isEqualTo("# hosts\nhosts=a\n# capture\ncapture=c\n");
        assertThat(journal).doesNotContain("start hosts=a");
    }
}
