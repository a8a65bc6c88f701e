package io.istiovm.agent.envoy;

/** A bootstrap that Envoy's schema rejects; the message names its origin and the schema's complaint. */
public final class InvalidBootstrapException extends Exception {
    public InvalidBootstrapException(String message, Throwable cause) {
        super(message, cause);
    }
}
