package io.istiovm.agent.it.bench;

import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * One figure of the benchmark report: a measured value (or why it was not measured) in a unit, with its goal
 * where issue 14 sets one ({@code comparator} then says which side meets it), a line on how it was measured, and
 * a line on what it would take to meet the goal, shown where the goal is missed. A figure without a goal is a
 * baseline or a breakdown shown beside one that has.
 */
record Figure(String name, Double value, String unit, Double goal, Comparator comparator, String detail,
              String notMeasured, String toMeet) {
    /** Which values meet a goal. */
    enum Comparator {
        AT_MOST("<="), AT_LEAST(">=");

        private final String symbol;

        Comparator(String symbol) {
            this.symbol = symbol;
        }

        String symbol() {
            return symbol;
        }
    }

    Figure {
        requireText(name, "name");
        requireText(unit, "unit");
        if ((value == null) == (notMeasured == null)) {
            throw new IllegalArgumentException(name + ": either a value or the reason it was not measured");
        }
        if (value != null && (value.isNaN() || value.isInfinite())) {
            throw new IllegalArgumentException(name + ": value " + value);
        }
        if ((goal == null) != (comparator == null)) {
            throw new IllegalArgumentException(name + ": a goal needs its comparator and the other way round");
        }
        detail = detail == null ? "" : detail;
        if (detail.contains("\n") || (toMeet != null && toMeet.contains("\n"))) {
            throw new IllegalArgumentException(name + ": detail and what it would take are one line each");
        }
    }

    /** A measured figure with a goal. */
    static Figure measured(String name, double value, String unit, double goal, Comparator comparator, String detail,
                           String toMeet) {
        return new Figure(name, value, unit, goal, comparator, detail, null, toMeet);
    }

    /** A measured figure without a goal: a baseline or a breakdown. */
    static Figure info(String name, double value, String unit, String detail) {
        return new Figure(name, value, unit, null, null, detail, null, null);
    }

    /** A figure with a goal that this run could not measure, and why. */
    static Figure notMeasured(String name, String unit, Double goal, Comparator comparator, String reason) {
        return new Figure(name, null, unit, goal, comparator, "", reason, null);
    }

    /** Whether the goal is met; empty without a goal or a value. */
    Optional<Boolean> met() {
        if (goal == null || value == null) {
            return Optional.empty();
        }
        return Optional.of(comparator == Comparator.AT_MOST ? value <= goal : value >= goal);
    }

    /** How far from the goal a missed figure is, in its unit (always positive); empty unless missed. */
    Optional<Double> missedBy() {
        if (met().orElse(true)) {
            return Optional.empty();
        }
        return Optional.of(Math.abs(value - goal));
    }

    /** The value as the report prints it, with its unit. */
    String valueText() {
        return value == null ? "not measured" : format(value, unit);
    }

    String goalText() {
        return goal == null ? "" : comparator.symbol() + " " + format(goal, unit);
    }

    /** "met", "missed by X (Y× the goal)" or "" without a goal; "not measured" when there is no value. */
    String verdictText() {
        if (goal == null) {
            return "";
        }
        if (value == null) {
            return "not measured";
        }
        if (met().orElseThrow()) {
            return "met";
        }
        String by = "missed by " + format(missedBy().orElseThrow(), unit);
        if (comparator == Comparator.AT_MOST && goal > 0) {
            return by + " (" + number(value / goal) + "× the goal)";
        }
        if (comparator == Comparator.AT_LEAST && value > 0) {
            return by + " (goal is " + number(goal / value) + "× the value)";
        }
        return by;
    }

    static String format(double value, String unit) {
        String number = unit.equals("connections") ? Long.toString(Math.round(value)) : number(value);
        return number + " " + unit;
    }

    /** Three significant digits at most, no exponent, no trailing zeros: 0.123, 1.23, 12.3, 123, 1234, 0.5. */
    static String number(double value) {
        double magnitude = Math.abs(value);
        if (value == Math.rint(value) && magnitude < 1e9) {
            return Long.toString((long) value);
        }
        String pattern = magnitude >= 100 ? "%.0f" : magnitude >= 10 ? "%.1f" : magnitude >= 1 ? "%.2f" : "%.3f";
        String text = String.format(Locale.ROOT, pattern, value);
        // 0.500 reads as 0.5: the digits kept are significant ones, not padding.
        return text.contains(".") ? text.replaceAll("0+$", "").replaceAll("\\.$", "") : text;
    }

    private static void requireText(String text, String what) {
        if (Objects.requireNonNull(text, what).isBlank()) {
            throw new IllegalArgumentException(what + " is blank");
        }
    }
}
