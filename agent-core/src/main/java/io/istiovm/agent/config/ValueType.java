package io.istiovm.agent.config;

/**
 * Turns the raw text of one configuration value into a typed value, or says precisely why it cannot.
 *
 * @param <T> the typed value
 */
public interface ValueType<T> {

    /** Parses {@code raw}; never consults DNS or the file system, so validation has no side effects. */
    T parse(String raw) throws InvalidValueException;

    /** A short name of the accepted form, shown in the configuration table (e.g. "port list or *"). */
    String describe();

    /** The canonical text of a parsed value, as {@code check} prints it. */
    default String format(T value) {
        return String.valueOf(value);
    }
}
