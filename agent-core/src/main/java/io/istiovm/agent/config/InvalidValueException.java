package io.istiovm.agent.config;

/** A raw configuration value that its {@link ValueType} refuses; the message says why, for an operator. */
public final class InvalidValueException extends Exception {
    private static final long serialVersionUID = 1L;

    public InvalidValueException(String reason) {
        super(reason, null, false, false);
    }
}
