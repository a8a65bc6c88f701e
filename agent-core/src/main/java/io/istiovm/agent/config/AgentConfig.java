package io.istiovm.agent.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * The agent's effective configuration: one immutable, typed value per key, each with the source it came from.
 * Built only by {@link ConfigLoader}, so every instance has passed validation.
 */
public final class AgentConfig {

    /**
     * One effective value. {@code key} is null for ISTIO_META_* / ISTIO_METAJSON_* names that are not declared
     * individually; {@code value} is null when the key is unset and has no default.
     */
    public record Entry(String name, ConfigKey<?> key, String raw, Object value, String formatted, Source source,
                        Source overrides) {
        public boolean isSet() {
            return value != null;
        }
    }

    private final ConfigFiles files;
    private final Map<String, Entry> entries;

    AgentConfig(ConfigFiles files, Map<String, Entry> entries) {
        this.files = files;
        this.entries = Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    public ConfigFiles files() {
        return files;
    }

    /** The value of {@code key}; throws if the key is unset and has no default (see {@link #find}). */
    public <T> T get(ConfigKey<T> key) {
        return find(key).orElseThrow(() -> new NoSuchElementException(key.name() + " is not set"));
    }

    public <T> Optional<T> find(ConfigKey<T> key) {
        Entry entry = entries.get(key.name());
        @SuppressWarnings("unchecked")
        T value = entry == null ? null : (T) entry.value();
        return Optional.ofNullable(value);
    }

    public Source source(ConfigKey<?> key) {
        Entry entry = entries.get(key.name());
        return entry == null ? Source.DEFAULT : entry.source();
    }

    /** Every declared key in registry order, then the node-metadata names in name order. */
    public List<Entry> entries() {
        return List.copyOf(entries.values());
    }

    /**
     * Envoy node metadata from ISTIO_META_* (strings) and ISTIO_METAJSON_* (JSON objects), keyed by the name
     * after the prefix, as pilot-agent builds it.
     */
    public Map<String, JsonNode> nodeMetadata() {
        Map<String, JsonNode> metadata = new LinkedHashMap<>();
        for (Entry entry : entries.values()) {
            if (entry.value() == null) {
                continue;
            }
            if (entry.name().startsWith(ConfigKeys.META_JSON_PREFIX)) {
                metadata.put(entry.name().substring(ConfigKeys.META_JSON_PREFIX.length()), (JsonNode) entry.value());
            } else if (entry.name().startsWith(ConfigKeys.META_PREFIX)) {
                metadata.put(entry.name().substring(ConfigKeys.META_PREFIX.length()),
                        TextNode.valueOf(entry.formatted()));
            }
        }
        return Collections.unmodifiableMap(metadata);
    }
}
