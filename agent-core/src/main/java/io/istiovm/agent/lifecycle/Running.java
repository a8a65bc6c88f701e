package io.istiovm.agent.lifecycle;

/** A started component. */
public interface Running {

    /**
     * Reconciles to {@code next}, a plan prepared by the same kind of component from a reloaded configuration,
     * changing only what differs. Throws when a change failed to apply; the component then keeps what it had.
     */
    Reconciled reload(Prepared next) throws Exception;

    /** Undoes what the component owns and stops its loop; called once. */
    void stop() throws Exception;
}
