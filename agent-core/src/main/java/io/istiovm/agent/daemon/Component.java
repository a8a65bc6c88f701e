package io.istiovm.agent.daemon;

import java.io.PrintWriter;

/**
 * One responsibility of the running agent (capture rules, hosts block, identity, Envoy). The agent starts
 * components in order, stops them in reverse, and is ready only when every component is.
 */
public interface Component {

    /** A short name used in logs, STATUS= and metrics. */
    String name();

    /**
     * Reads the inputs and works out what {@link #start()} will do, changing nothing. The agent prepares every
     * component before it starts any, so that bad input (a configuration error, an unusable identity) stops the
     * agent with the host exactly as it was.
     */
    default void prepare() throws Exception {
    }

    /** Brings the host to the desired state; throws if it cannot, leaving the previous state in place. */
    void start() throws Exception;

    /** True while the component's desired state holds. */
    boolean ready();

    /** Prints what {@link #start()} would do, changing nothing ({@code run --dry-run}). */
    void describe(PrintWriter out);

    /** Undoes what the component owns; must succeed on a host where nothing was done. */
    void stop() throws Exception;
}
