package io.istiovm.agent.netfilter;

/** The system refused or failed a netfilter operation; the message says which command and why. */
public final class CaptureException extends Exception {
    private static final long serialVersionUID = 1L;

    public CaptureException(String message) {
        super(message);
    }

    public CaptureException(String message, Throwable cause) {
        super(message, cause);
    }
}
