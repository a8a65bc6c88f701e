package io.istiovm.agent.lifecycle;

/** A component failed to start; the components started before it were stopped again, in reverse order. */
public final class StartFailed extends Exception {
    private static final long serialVersionUID = 1L;
    private final String component;

    public StartFailed(String component, Exception cause) {
        super(component + " failed to start: " + cause.getMessage(), cause, false, false);
        this.component = component;
    }

    public String component() {
        return component;
    }

    /** The component's own exception. */
    public Exception reason() {
        return (Exception) getCause();
    }
}
