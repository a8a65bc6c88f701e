package io.istiovm.agent.cli;

/** Process exit codes, from sysexits.h where one fits; each failure class has its own. */
public final class ExitCodes {
    public static final int OK = 0;
    /** {@code verify}-style commands: the checked state differs from the desired state. */
    public static final int DIFFERENT = 1;
    /** EX_USAGE: unknown command, bad flag. */
    public static final int USAGE = 64;
    /** EX_DATAERR: input files (certificates, keys) are invalid; every problem is printed. */
    public static final int DATA = 65;
    /** EX_NOINPUT: the required cluster.env does not exist. */
    public static final int NO_INPUT = 66;
    /** EX_UNAVAILABLE: a remote service (the CA) could not be reached or refused the request. */
    public static final int UNAVAILABLE = 69;
    /** EX_SOFTWARE: a bug; the message says where. */
    public static final int SOFTWARE = 70;
    /** EX_OSERR: the system refused an operation (netfilter, files, processes). */
    public static final int OS_ERROR = 71;
    /** EX_IOERR: reading or writing a file failed. */
    public static final int IO_ERROR = 74;
    /** EX_CONFIG: the configuration is invalid; every problem is printed. */
    public static final int CONFIG = 78;

    private ExitCodes() {
    }
}
