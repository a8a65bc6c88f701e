package io.istiovm.agent.lifecycle;

/**
 * One responsibility of the running agent (the hosts block, the identity, SDS, Envoy, the capture rules), built by
 * the assembly from a small settings value. {@link #prepare()} reads the inputs and plans, changing nothing; the
 * engine prepares every component before it starts any, so that bad input stops the agent (or refuses a reload)
 * with the host exactly as it was.
 */
public interface Component {

    /** A short, stable name: logs, STATUS=, metrics, and how a reload matches a new component to a running one. */
    String name();

    /** Reads the inputs and works out what starting (or reconciling to) this component means; changes nothing. */
    Prepared prepare() throws Exception;
}
