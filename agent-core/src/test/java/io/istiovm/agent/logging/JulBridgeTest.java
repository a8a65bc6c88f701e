package io.istiovm.agent.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

class JulBridgeTest {
    @Test
    void julRecordsArriveAsEntriesWithTheirLevel() throws Exception {
        AgentLogging.bridgeJavaUtilLogging();
        List<LogEntry> seen = new CopyOnWriteArrayList<>();
        try (AutoCloseable capture = AgentLogging.capture(seen::add)) {
            java.util.logging.Logger jul = java.util.logging.Logger.getLogger("io.grpc.internal.Test");
            jul.log(java.util.logging.Level.WARNING, "stream {0} failed", 7);
            jul.log(java.util.logging.Level.SEVERE, "broken", new IllegalStateException("x"));
        }
        assertThat(seen).extracting(LogEntry::level, LogEntry::logger, LogEntry::message).containsExactly(
                org.assertj.core.groups.Tuple.tuple(Level.WARN, "io.grpc.internal.Test", "stream 7 failed"),
                org.assertj.core.groups.Tuple.tuple(Level.ERROR, "io.grpc.internal.Test", "broken"));
        assertThat(seen.get(1).throwable()).isPresent();
    }

    @Test
    void levelsMap() {
        assertThat(JulBridge.level(java.util.logging.Level.INFO)).isEqualTo(Level.INFO);
        assertThat(JulBridge.level(java.util.logging.Level.CONFIG)).isEqualTo(Level.DEBUG);
        assertThat(JulBridge.level(java.util.logging.Level.FINEST)).isEqualTo(Level.TRACE);
        assertThat(JulBridge.julLevel(Level.WARN.toInt())).isEqualTo(java.util.logging.Level.WARNING);
        assertThat(JulBridge.julLevel(LogLevels.OFF)).isEqualTo(java.util.logging.Level.OFF);
        // An override below the default opens JUL's root to it; the backend still filters per logger.
        assertThat(JulBridge.julLevel(LogLevels.parse("warn,io.grpc=debug").lowest()))
                .isEqualTo(java.util.logging.Level.FINE);
    }
}
