package io.istiovm.agent.config;

import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * One configuration key: its name, typed form, default, meaning, and whether this agent acts on it.
 * Keys are declared once, in {@link ConfigKeys}; parsing, validation, {@code check} and the README table
 * all read the same declaration.
 *
 * @param <T> the typed value
 */
public final class ConfigKey<T> {

    /** Which part of the configuration table a key belongs to. */
    public enum Group {
        CAPTURE("Traffic capture"),
        CONTROL_PLANE("Control plane"),
        WORKLOAD("Workload"),
        CERTIFICATES("Certificates"),
        ENVOY("Envoy"),
        AGENT("Agent (istio-vm-agent's own keys)"),
        LOCATION("File locations (environment only)");

        private final String title;

        Group(String title) {
            this.title = title;
        }

        public String title() {
            return title;
        }
    }

    /** The default: nothing, a literal, or a value derived from keys declared earlier and from host facts. */
    public sealed interface Default {
        /** How the README and {@code --help} describe it. */
        String describe();

        record None() implements Default {
            @Override
            public String describe() {
                return "(unset)";
            }
        }

        record Literal(String value) implements Default {
            @Override
            public String describe() {
                return value.isEmpty() ? "(empty)" : value;
            }
        }

        record Derived(String describe, Function<DefaultContext, String> compute) implements Default {
        }
    }

    /** What derived defaults may look at. */
    public interface DefaultContext {
        /** The raw text already chosen for an earlier key. */
        String raw(ConfigKey<?> key);

        HostFacts host();
    }

    private final String name;
    private final ValueType<T> type;
    private final Default defaultValue;
    private final Group group;
    private final String since;
    private final String meaning;
    private final String compatNote;
    private final boolean environmentOnly;
    private final List<String> misspellings;
    private final String privilege;

    ConfigKey(String name, ValueType<T> type, Default defaultValue, Group group, String since, String meaning,
              String compatNote, boolean environmentOnly, List<String> misspellings, String privilege) {
        if (!name.matches("[A-Z][A-Z0-9_]*")) {
            throw new IllegalArgumentException("key name " + name);
        }
        this.name = name;
        this.type = Objects.requireNonNull(type);
        this.defaultValue = Objects.requireNonNull(defaultValue);
        this.group = Objects.requireNonNull(group);
        this.since = Objects.requireNonNull(since);
        this.meaning = Objects.requireNonNull(meaning);
        this.compatNote = compatNote;
        this.environmentOnly = environmentOnly;
        this.misspellings = List.copyOf(misspellings);
        this.privilege = privilege;
    }

    public String name() {
        return name;
    }

    public ValueType<T> type() {
        return type;
    }

    public Default defaultValue() {
        return defaultValue;
    }

    public Group group() {
        return group;
    }

    /** Where the key comes from: an Istio version ("1.4", "1.8+") or "agent" for our own. */
    public String since() {
        return since;
    }

    public String meaning() {
        return meaning;
    }

    /** True when the agent accepts and validates the key but it changes nothing (kept for drop-in compatibility). */
    public boolean isCompatOnly() {
        return compatNote != null;
    }

    /** Why a compatibility-only key has no effect here; null for keys the agent acts on. */
    public String compatNote() {
        return compatNote;
    }

    /** Keys that locate the files themselves can only come from the process environment. */
    public boolean isEnvironmentOnly() {
        return environmentOnly;
    }

    /** Wrong names seen in the wild that should point the operator at this key. */
    public List<String> misspellings() {
        return misspellings;
    }

    /**
     * True when a value of this key can make the agent (root) do what Envoy's user cannot: start a program, pick a
     * user or group, read, write or delete a path as root, give Envoy a capability, or decide what every user on
     * the host resolves a name to. Such a key is refused from a file that a user other than root can write.
     */
    public boolean raisesPrivileges() {
        return privilege != null;
    }

    /** How a value of this key could raise privileges ("names the program the agent starts"); null if it cannot. */
    public String privilege() {
        return privilege;
    }

    @Override
    public String toString() {
        return name;
    }

    static <T> Builder<T> builder(String name, ValueType<T> type) {
        return new Builder<>(name, type);
    }

    static final class Builder<T> {
        private final String name;
        private final ValueType<T> type;
        private Default defaultValue = new Default.None();
        private Group group;
        private String since;
        private String meaning;
        private String compatNote;
        private boolean environmentOnly;
        private List<String> misspellings = List.of();
        private String privilege;

        private Builder(String name, ValueType<T> type) {
            this.name = name;
            this.type = type;
        }

        Builder<T> defaultsTo(String literal) {
            this.defaultValue = new Default.Literal(literal);
            return this;
        }

        Builder<T> derivedDefault(String describe, Function<DefaultContext, String> compute) {
            this.defaultValue = new Default.Derived(describe, compute);
            return this;
        }

        Builder<T> group(Group group) {
            this.group = group;
            return this;
        }

        Builder<T> since(String since) {
            this.since = since;
            return this;
        }

        Builder<T> meaning(String meaning) {
            this.meaning = meaning;
            return this;
        }

        Builder<T> compatOnly(String note) {
            this.compatNote = note;
            return this;
        }

        Builder<T> environmentOnly() {
            this.environmentOnly = true;
            return this;
        }

        Builder<T> misspelledAs(String... names) {
            this.misspellings = List.of(names);
            return this;
        }

        /** See {@link ConfigKey#raisesPrivileges()}; {@code how} completes "it ..." in a refusal. */
        Builder<T> raisesPrivileges(String how) {
            this.privilege = how;
            return this;
        }

        ConfigKey<T> build() {
            return new ConfigKey<>(name, type, defaultValue, group, since, meaning, compatNote, environmentOnly,
                    misspellings, privilege);
        }
    }
}
