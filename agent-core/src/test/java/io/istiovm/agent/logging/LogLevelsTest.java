package io.istiovm.agent.logging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

class LogLevelsTest {
    @Test
    void theLongestPrefixAtADotWins() {
        LogLevels levels = LogLevels.parse("warn, io.istiovm.agent=info ,io.istiovm.agent.ca=debug,envoy=off");
        assertThat(levels.enabled("io.istiovm.agent.ca.Rotator", Level.DEBUG)).isTrue();
        assertThat(levels.enabled("io.istiovm.agent.cab.X", Level.DEBUG)).isFalse();
        assertThat(levels.enabled("io.istiovm.agent.cab.X", Level.INFO)).isTrue();
        assertThat(levels.enabled("io.grpc.netty", Level.INFO)).isFalse();
        assertThat(levels.enabled("io.grpc.netty", Level.WARN)).isTrue();
        assertThat(levels.enabled("envoy", Level.ERROR)).isFalse();
    }

    @Test
    void envoysSpellingIsAccepted() {
        assertThat(LogLevels.parse("warning").enabled("x", Level.INFO)).isFalse();
        assertThat(LogLevels.parse("warning").enabled("x", Level.WARN)).isTrue();
    }

    @Test
    void nonsenseIsRefused() {
        assertThatThrownBy(() -> LogLevels.parse("loud")).hasMessageContaining("not a log level");
        assertThatThrownBy(() -> LogLevels.parse("info,=debug")).hasMessageContaining("LEVEL[,LOGGER=LEVEL]");
    }

    @Test
    void grpcsFrameLoggersAreOffWhateverTheConfigurationSays() {
        LogLevels levels = LogLevels.parse("trace,io.grpc.netty.NettyClientHandler=trace");
        assertThat(levels.enabled("io.grpc.netty.NettyClientHandler", Level.ERROR)).isFalse();
        assertThat(levels.enabled("io.grpc.netty.NettyServerHandler", Level.ERROR)).isFalse();
        assertThat(levels.enabled("io.grpc.netty.Utils", Level.TRACE)).isTrue();
    }
}
