package io.istiovm.agent.lifecycle;

import java.util.List;

/** Some components could not prepare: each failure, in component order. Nothing on the host was changed. */
public final class PrepareFailed extends Exception {
    private static final long serialVersionUID = 1L;

    /** One component's refusal. */
    public record Failure(String component, Exception cause) {
    }

    private final transient List<Failure> failures;
    private final transient List<Plan.Step> prepared;

    public PrepareFailed(List<Failure> failures) {
        this(failures, List.of());
    }

    /** {@code prepared}: the components that did prepare, so that a dry run can still show their plans. */
    public PrepareFailed(List<Failure> failures, List<Plan.Step> prepared) {
        super(describe(failures), null, false, false);
        if (failures.isEmpty()) {
            throw new IllegalArgumentException("no failures");
        }
        this.failures = List.copyOf(failures);
        this.prepared = List.copyOf(prepared);
    }

    public List<Failure> failures() {
        return failures;
    }

    /** What the components that did prepare would do; nothing of it was done. */
    public Plan partialPlan() {
        return new Plan(prepared);
    }

    private static String describe(List<Failure> failures) {
        StringBuilder text = new StringBuilder();
        for (Failure failure : failures) {
            if (!text.isEmpty()) {
                text.append("; ");
            }
            text.append(failure.component()).append(": ").append(failure.cause().getMessage());
        }
        return text.toString();
    }
}
