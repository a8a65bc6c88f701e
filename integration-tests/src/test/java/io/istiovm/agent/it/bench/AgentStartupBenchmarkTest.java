package io.istiovm.agent.it.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The /proc and log readings the startup benchmark takes its numbers from. */
class AgentStartupBenchmarkTest {
    @Test
    void cpuTicksAreUtimePlusStimeAfterTheCommEvenWithParenthesesInIt() {
        // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        String stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 9000 0 12 0 731 95 0 0 20 0 26 0 1000 0 0\n";
        assertThat(AgentStartupBenchmark.cpuTicks(stat)).isEqualTo(731 + 95);
    }

    @Test
    void schedstatRunTimeIsItsFirstField() {
        assertThat(AgentStartupBenchmark.schedstatNanos("15660118 2345 44\n")).isEqualTo(15_660_118L);
    }

    @Test
    void busiestThreadsAreSummedByNameAndSortedByTicks() {
        var before = java.util.Map.of("envoy/10", 5L, "hosts/11", 2L, "VM Thread/12", 7L, "C1 CompilerThre/13", 1L);
        var after = java.util.Map.of("envoy/10", 9L, "hosts/11", 2L, "VM Thread/12", 8L, "C1 CompilerThre/13", 1L,
                "envoy/14", 1L);
        assertThat(AgentStartupBenchmark.busiest(before, after)).containsExactly(
                java.util.Map.entry("envoy", 5L), java.util.Map.entry("VM Thread", 1L));
    }

    @Test
    void statusFieldsAreReadInKilobytes() {
        String status = "Name:\tjava\nThreads:\t26\nVmRSS:\t  124312 kB\nRssAnon:\t  103636 kB\n"
                + "Cpus_allowed_list:\t0-1\n";
        var values = AgentStartupBenchmark.status(status);
        assertThat(values).containsEntry("VmRSS", 124312L).containsEntry("RssAnon", 103636L)
                .containsEntry("Threads", 26L).doesNotContainKey("Cpus_allowed_list");
    }

    @Test
    void theStandInsLiveLineDatesTheLiveMoment() {
        String log = "2026-12-03T06:14:00.940Z INFO  [envoy] io.istiovm.agent.envoy.EnvoySupervision - started\n"
                + "2026-12-03T06:14:03.001Z INFO  [envoy] envoy - [2026-12-03T06:14:02.873561Z][1163][info][main] all "
                + "clusters initialized; epoch 0 is LIVE ENVOY_EPOCH=0 ENVOY_PID=1163 COMPONENT=envoy\n";
        assertThat(AgentStartupBenchmark.liveInstant(log))
                .isEqualTo(Optional.of(Instant.parse("2026-12-03T06:14:02.873561Z")));
        assertThat(AgentStartupBenchmark.liveInstant("no such line\n")).isEmpty();
    }
}
