package io.istiovm.agent.certs;

import java.util.List;

/**
 * The certificate files (or a CA's answer) do not form a usable identity. The message names the file and the
 * problem precisely and never contains key material; {@link #problems()} lists each problem on its own.
 */
public final class InvalidIdentityException extends Exception {
    private static final long serialVersionUID = 1L;
    private final List<String> problems;

    public InvalidIdentityException(String problem) {
        this(List.of(problem));
    }

    public InvalidIdentityException(List<String> problems) {
        super(String.join("; ", problems), null, false, false);
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("an invalid identity has at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
