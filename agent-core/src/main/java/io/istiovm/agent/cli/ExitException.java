package io.istiovm.agent.cli;

/** Ends a command with a specific exit code after its message has been printed. */
public final class ExitException extends Exception {
    private static final long serialVersionUID = 1L;
    private final int exitCode;

    public ExitException(int exitCode) {
        super("exit " + exitCode, null, false, false);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }
}
