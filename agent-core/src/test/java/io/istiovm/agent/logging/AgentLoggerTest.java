package io.istiovm.agent.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import org.slf4j.event.Level;

/** The backend through slf4j's own API, as the agent's code calls it. */
class AgentLoggerTest {
    private static final Logger LOG = LoggerFactory.getLogger("io.istiovm.agent.ca.Something");

    @Test
    void slf4jFindsThisBackend() {
        assertThat(LoggerFactory.getILoggerFactory()).isInstanceOf(AgentLoggerFactory.class);
    }

    @Test
    void aCaptureSeesEveryLevelWithPairsMdcAndThrowable() throws Exception {
        List<LogEntry> seen = new CopyOnWriteArrayList<>();
        // The tests' levels (istio-vm-agent-logging.properties) are warn: a capture sees below them all the same.
        assertThat(LOG.isDebugEnabled()).isFalse();
        try (AutoCloseable capture = AgentLogging.capture(seen::add)) {
            MDC.put("COMPONENT", "identity");
            try {
                LOG.atDebug().addKeyValue("CERT_SERIAL", "1f").log("rotated to {}", "spiffe://x");
                LOG.error("failed {}", "twice", new IllegalStateException("boom"));
            } finally {
                MDC.remove("COMPONENT");
            }
            LOG.info("engine line");
        }
        assertThat(seen).hasSize(3);
        LogEntry first = seen.get(0);
        assertThat(first.level()).isEqualTo(Level.DEBUG);
        assertThat(first.message()).isEqualTo("rotated to spiffe://x");
        assertThat(first.keyValues()).containsExactly(Map.entry("CERT_SERIAL", "1f"));
        assertThat(first.component()).isEqualTo("identity");
        assertThat(seen.get(1).message()).isEqualTo("failed twice");
        assertThat(seen.get(1).throwable()).get().hasFieldOrPropertyWithValue("message", "boom");
        assertThat(seen.get(2).component()).isEqualTo("agent");

        LOG.warn("after the capture closed");
        assertThat(seen).hasSize(3);
    }

    @Test
    void aSinkThatWantsTheCallSiteGetsTheLoggingCall() {
        List<LogEntry> written = new CopyOnWriteArrayList<>();
        LogSink before = AgentLogging.sink();
        AgentLogging.configure(LogLevels.of(Level.INFO), new LogSink() {
            @Override
            public void write(LogEntry entry) {
                written.add(entry);
            }

            @Override
            public boolean wantsCallSite() {
                return true;
            }
        });
        try {
            LOG.atInfo().log("fluent");
            LOG.info("classic");
            LOG.debug("below the level");
        } finally {
            AgentLogging.configure(LogLevels.parse("warn,io.istiovm.agent.ca.Rotator=off"), before);
        }
        assertThat(written).hasSize(2);
        for (LogEntry entry : written) {
            LogEntry.CallSite site = entry.callSite().orElseThrow();
            assertThat(site.file()).isEqualTo("io/istiovm/agent/logging/AgentLoggerTest.java");
            assertThat(site.function()).isEqualTo(
                    "io.istiovm.agent.logging.AgentLoggerTest.aSinkThatWantsTheCallSiteGetsTheLoggingCall");
            assertThat(site.line()).isPositive();
        }
    }
}
