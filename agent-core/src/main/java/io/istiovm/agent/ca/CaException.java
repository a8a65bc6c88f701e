package io.istiovm.agent.ca;

/** A CA request failed: unreachable, refused, or answered with something unusable. The message says which. */
public final class CaException extends Exception {
    private static final long serialVersionUID = 1L;

    public CaException(String message) {
        super(message);
    }

    public CaException(String message, Throwable cause) {
        super(message, cause);
    }
}
