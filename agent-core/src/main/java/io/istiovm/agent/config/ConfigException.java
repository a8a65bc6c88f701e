package io.istiovm.agent.config;

import java.util.List;
import java.util.stream.Collectors;

/** The configuration is invalid; carries every problem found (errors and warnings), in file order. */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;
    private final transient List<ConfigProblem> problems;
    private final boolean inputMissing;

    public ConfigException(List<ConfigProblem> problems) {
        this(problems, false);
    }

    /** @param inputMissing true when the required cluster.env does not exist at all */
    public ConfigException(List<ConfigProblem> problems, boolean inputMissing) {
        super(problems.stream().filter(ConfigProblem::isError).map(ConfigProblem::render)
                .collect(Collectors.joining("\n")), null, false, false);
        this.problems = List.copyOf(problems);
        this.inputMissing = inputMissing;
    }

    /** True when the required cluster.env does not exist (as opposed to existing and being wrong). */
    public boolean inputMissing() {
        return inputMissing;
    }

    public List<ConfigProblem> problems() {
        return problems;
    }

    public List<ConfigProblem> errors() {
        return problems.stream().filter(ConfigProblem::isError).toList();
    }
}
