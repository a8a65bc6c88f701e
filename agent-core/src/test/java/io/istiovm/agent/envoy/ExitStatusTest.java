package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class ExitStatusTest {
    @Test
    void plainExitAndSignalsAreNamed() {
        assertThat(new ExitStatus(1, OptionalLong.empty(), OptionalLong.empty()).describe())
                .isEqualTo("exited with status 1");
        assertThat(new ExitStatus(128 + 11, OptionalLong.empty(), OptionalLong.empty()).describe())
                .isEqualTo("killed by SIGSEGV");
        assertThat(new ExitStatus(128 + 6, OptionalLong.empty(), OptionalLong.empty()).signalled()).isTrue();
    }

    @Test
    void sigkillIsAnOomKillOnlyWhenTheCgroupCounterMoved() {
        ExitStatus oom = new ExitStatus(137, OptionalLong.of(2), OptionalLong.of(3));
        assertThat(oom.oomKilled()).isTrue();
        assertThat(oom.describe()).startsWith("killed by the kernel's OOM killer");
        ExitStatus killed = new ExitStatus(137, OptionalLong.of(3), OptionalLong.of(3));
        assertThat(killed.oomKilled()).isFalse();
        assertThat(killed.describe()).startsWith("killed by SIGKILL (not the OOM killer");
        assertThat(new ExitStatus(137, OptionalLong.empty(), OptionalLong.empty()).describe())
                .contains("possibly the OOM killer");
    }
}
