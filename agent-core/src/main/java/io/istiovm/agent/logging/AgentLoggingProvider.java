package io.istiovm.agent.logging;

import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.helpers.BasicMDCAdapter;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * The agent's own slf4j 2 backend, found by slf4j's ServiceLoader (META-INF/services). Chosen over slf4j-simple
 * and logback by measurement (README, "Logs"): it is the smallest, and it speaks journald's native protocol, which
 * neither does without more jars. The MDC is slf4j's BasicMDCAdapter: per thread, inherited by threads a thread
 * starts (as with slf4j-simple), so Envoy's output thread started by the envoy loop carries its COMPONENT.
 */
public final class AgentLoggingProvider implements SLF4JServiceProvider {
    private final AgentLoggerFactory loggers = new AgentLoggerFactory();
    private final IMarkerFactory markers = new BasicMarkerFactory();
    private final MDCAdapter mdc = new BasicMDCAdapter();

    @Override
    public ILoggerFactory getLoggerFactory() {
        return loggers;
    }

    @Override
    public IMarkerFactory getMarkerFactory() {
        return markers;
    }

    @Override
    public MDCAdapter getMDCAdapter() {
        return mdc;
    }

    @Override
    public String getRequestedApiVersion() {
        return "2.0.99";
    }

    @Override
    public void initialize() {
        AgentLogging.configureFromEnvironment();
    }
}
