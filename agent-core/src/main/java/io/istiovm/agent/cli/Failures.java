package io.istiovm.agent.cli;

import io.istiovm.agent.ca.CaException;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.envoy.InvalidBootstrapException;
import io.istiovm.agent.lifecycle.PrepareFailed;
import io.istiovm.agent.lifecycle.StartFailed;
import io.istiovm.agent.netfilter.CaptureException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.util.List;

/**
 * The one table from a failure's type to its exit code, and the one way a failure is printed: every command
 * throws what went wrong and {@link Cli} ends the process through here. The codes are in {@link ExitCodes}.
 */
public final class Failures {
    private Failures() {
    }

    /** The exit code for {@code failure}; for several at once (a refused preparation), the most basic kind wins. */
    public static int exitCode(Throwable failure) {
        if (failure instanceof PrepareFailed failed) {
            return mostBasic(failed.failures().stream().map(f -> exitCode(f.cause())).toList());
        }
        if (failure instanceof StartFailed failed) {
            int code = exitCode(failed.reason());
            return code == ExitCodes.SOFTWARE ? ExitCodes.OS_ERROR : code;
        }
        if (failure instanceof ConfigException config) {
            return config.inputMissing() ? ExitCodes.NO_INPUT : ExitCodes.CONFIG;
        }
        if (failure instanceof InvalidBootstrapException) {
            return ExitCodes.CONFIG;
        }
        if (failure instanceof InvalidIdentityException) {
            return ExitCodes.DATA;
        }
        if (failure instanceof CaException) {
            return ExitCodes.UNAVAILABLE;
        }
        if (failure instanceof CaptureException || failure instanceof AccessDeniedException) {
            return ExitCodes.OS_ERROR;
        }
        if (failure instanceof IOException) {
            return ExitCodes.IO_ERROR;
        }
        return ExitCodes.SOFTWARE;
    }

    /**
     * Bad input before an unusable identity before anything else: the operator fixes the configuration first,
     * and a configuration problem is the code systemd should not restart on.
     */
    private static int mostBasic(List<Integer> codes) {
        for (int preferred : new int[] {ExitCodes.NO_INPUT, ExitCodes.CONFIG, ExitCodes.DATA}) {
            if (codes.contains(preferred)) {
                return preferred;
            }
        }
        return codes.isEmpty() ? ExitCodes.SOFTWARE : codes.get(0);
    }

    /** Prints {@code failure} for the operator: every configuration problem with file, line and key. */
    public static void print(PrintWriter err, Throwable failure) {
        if (failure instanceof PrepareFailed failed) {
            for (PrepareFailed.Failure each : failed.failures()) {
                printOne(err, each.component(), each.cause());
            }
        } else if (failure instanceof StartFailed failed) {
            printOne(err, failed.component(), failed.reason());
        } else {
            printOne(err, null, failure);
        }
        err.flush();
    }

    private static void printOne(PrintWriter err, String component, Throwable failure) {
        String prefix = component == null ? "error: " : "error: " + component + ": ";
        if (failure instanceof ConfigException config) {
            printProblems(err, config.problems());
            int errors = config.errors().size();
            err.println((component == null ? "" : component + ": ") + "configuration is invalid: " + errors
                    + (errors == 1 ? " error" : " errors"));
        } else if (failure instanceof InvalidIdentityException identity) {
            identity.problems().forEach(problem -> err.println(prefix + problem));
        } else if (failure instanceof AccessDeniedException denied) {
            err.println(prefix + denied.getFile() + ": permission denied");
        } else if (exitCode(failure) == ExitCodes.SOFTWARE) {
            err.println("internal error: " + failure);
            failure.printStackTrace(err);
        } else {
            err.println(prefix + failure.getMessage());
        }
    }

    static void printProblems(PrintWriter err, Iterable<ConfigProblem> problems) {
        for (ConfigProblem problem : problems) {
            err.println(problem.render());
        }
        err.flush();
    }
}
