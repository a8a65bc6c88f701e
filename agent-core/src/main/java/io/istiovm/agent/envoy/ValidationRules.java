package io.istiovm.agent.envoy;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.pgv.validate.Validate;
import io.envoyproxy.pgv.validate.Validate.FieldRules;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Envoy's own validation rules: the protoc-gen-validate {@code (validate.rules)}, {@code (validate.required)}
 * and {@code (validate.disabled)} options that Envoy's API protos carry in their descriptors, applied to a message
 * the way Envoy's generated {@code Validate()} does when it loads a bootstrap ({@code envoy --mode validate}). The
 * schema parse only proves that every field exists; these rules catch what Envoy refuses at start anyway: an empty
 * cluster name, a zero {@code connect_timeout}, a port above 65535, a missing {@code base_interval}, a oneof left
 * unset. {@code typed_config} payloads are unpacked with the registry and checked too, as Envoy does when it
 * instantiates the extension.
 *
 * <p>Semantics follow protoc-gen-validate (v1.0, the version Envoy 1.2x builds with): scalar rules apply to
 * proto3 scalars whether or not they were written (unless {@code ignore_empty}); rules of a message field other
 * than {@code required} apply only when it is set; members of a oneof only when they are the one set; wrapper types
 * ({@code google.protobuf.UInt32Value} and the rest) are checked by their {@code value}. Rules that need the clock
 * ({@code lt_now}, {@code within}) are not checked: a bootstrap has no timestamps.
 */
public final class ValidationRules {
    private static final Pattern HEADER_NAME = Pattern.compile("^:?[0-9a-zA-Z!#$%&'*+\\-.^_|~`]+$");
    private static final Pattern HEADER_VALUE = Pattern.compile("^[^\\u0000-\\u0008\\u000A-\\u001F\\u007F]*$");
    private static final Pattern LOOSE_HEADER = Pattern.compile("^[^\\u0000\\u000A\\u000D]*$");
    private static final Pattern HOSTNAME = Pattern.compile(
            "^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$");
    private static final Pattern IPV4 = Pattern.compile(
            "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$");
    private static final Pattern IPV6 = Pattern.compile("^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$");
    private static final Pattern UUID = Pattern.compile(
            "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
    private static final Set<String> WRAPPERS = Set.of("google.protobuf.DoubleValue", "google.protobuf.FloatValue",
            "google.protobuf.Int64Value", "google.protobuf.UInt64Value", "google.protobuf.Int32Value",
            "google.protobuf.UInt32Value", "google.protobuf.BoolValue", "google.protobuf.StringValue",
            "google.protobuf.BytesValue");

    private final JsonFormat.TypeRegistry types;
    private final List<String> violations = new ArrayList<>();

    private ValidationRules(JsonFormat.TypeRegistry types) {
        this.types = types;
    }

    /** Every violation in {@code message}, each as {@code field.path[index]: what the rule demands}. */
    public static List<String> violations(Message message, JsonFormat.TypeRegistry types) {
        ValidationRules rules = new ValidationRules(types);
        rules.message("", message);
        return List.copyOf(rules.violations);
    }

    private void message(String path, Message message) {
        Descriptor type = message.getDescriptorForType();
        if (type.getOptions().getExtension(Validate.disabled) || type.getOptions().getExtension(Validate.ignored)) {
            return;
        }
        if (message instanceof Any any) {
            unpacked(path, any);
            return;
        }
        for (OneofDescriptor oneof : type.getRealOneofs()) {
            if (oneof.getOptions().getExtension(Validate.required) && !message.hasOneof(oneof)) {
                violations.add(at(path, oneof.getName()) + ": one of "
                        + oneof.getFields().stream().map(FieldDescriptor::getName).toList() + " is required");
            }
        }
        for (FieldDescriptor field : type.getFields()) {
            if (field.getRealContainingOneof() != null && !message.hasField(field)) {
                continue;
            }
            if (field.hasPresence() && !field.isRepeated() && !message.hasField(field)
                    && field.getJavaType() != FieldDescriptor.JavaType.MESSAGE) {
                continue;
            }
            field(at(path, field.getName()), message, field);
        }
    }

    private void field(String path, Message message, FieldDescriptor field) {
        FieldRules rules = field.getOptions().hasExtension(Validate.rules)
                ? field.getOptions().getExtension(Validate.rules) : null;
        if (field.isMapField()) {
            @SuppressWarnings("unchecked")
            List<Message> entries = (List<Message>) message.getField(field);
            if (rules != null && rules.hasMap()) {
                map(path, rules.getMap(), entries);
            }
            for (Message entry : entries) {
                Object value = entry.getField(entry.getDescriptorForType().findFieldByName("value"));
                if (value instanceof Message nested) {
                    message(path + "[" + entry.getField(entry.getDescriptorForType().findFieldByName("key")) + "]",
                            nested);
                }
            }
            return;
        }
        if (field.isRepeated()) {
            List<?> items = (List<?>) message.getField(field);
            if (rules != null && rules.hasRepeated()) {
                repeated(path, rules.getRepeated(), items, field);
            } else {
                for (int i = 0; i < items.size(); i++) {
                    value(path + "[" + i + "]", null, items.get(i), field, true);
                }
            }
            return;
        }
        value(path, rules, message.getField(field), field, field.getJavaType() != FieldDescriptor.JavaType.MESSAGE
                || message.hasField(field));
    }

    /** One value of {@code field} (a singular field, or one item of a repeated one) against {@code rules}. */
    private void value(String path, FieldRules rules, Object value, FieldDescriptor field, boolean present) {
        boolean skip = false;
        if (rules != null && rules.hasMessage()) {
            if (rules.getMessage().getRequired() && !present) {
                violations.add(path + ": value is required");
            }
            skip = rules.getMessage().getSkip();
        }
        if (rules != null && rules.getTypeCase() != FieldRules.TypeCase.TYPE_NOT_SET) {
            typed(path, typedRules(rules), value, field, present);
        }
        if (!skip && present && value instanceof Message nested && !WRAPPERS.contains(nested.getDescriptorForType()
                .getFullName())) {
            message(path, nested);
        }
    }

    private void typed(String path, Message rules, Object value, FieldDescriptor field, boolean present) {
        String kind = rules.getDescriptorForType().getName();
        switch (kind) {
            case "DurationRules", "TimestampRules", "AnyRules" -> {
                if (Boolean.TRUE.equals(get(rules, "required")) && !present) {
                    violations.add(path + ": value is required");
                }
                if (!present) {
                    return;
                }
                if (kind.equals("AnyRules")) {
                    inList(path, rules, ((Any) value).getTypeUrl());
                } else {
                    numeric(path, rules, decimal(value, null), value);
                }
            }
            default -> {
                if (value instanceof Message wrapper && WRAPPERS.contains(wrapper.getDescriptorForType()
                        .getFullName())) {
                    if (!present) {
                        return;
                    }
                    FieldDescriptor inner = wrapper.getDescriptorForType().findFieldByName("value");
                    scalar(path, rules, wrapper.getField(inner), inner);
                } else {
                    scalar(path, rules, value, field);
                }
            }
        }
    }

    private void scalar(String path, Message rules, Object value, FieldDescriptor field) {
        String kind = rules.getDescriptorForType().getName();
        if (Boolean.TRUE.equals(get(rules, "ignore_empty")) && isEmpty(value)) {
            return;
        }
        switch (kind) {
            case "StringRules" -> string(path, rules, (String) value);
            case "BytesRules" -> bytes(path, rules, (ByteString) value);
            case "BoolRules" -> {
                Object expected = get(rules, "const");
                if (expected != null && !expected.equals(value)) {
                    violations.add(path + ": value must equal " + expected);
                }
            }
            case "EnumRules" -> {
                EnumValueDescriptor e = (EnumValueDescriptor) value;
                if (Boolean.TRUE.equals(get(rules, "defined_only"))
                        && e.getType().findValueByNumber(e.getNumber()) == null) {
                    violations.add(path + ": value " + e.getNumber() + " must be one of the defined enum values");
                }
                Object expected = get(rules, "const");
                if (expected != null && !expected.equals(e.getNumber())) {
                    violations.add(path + ": value must equal " + expected);
                }
                inList(path, rules, e.getNumber());
            }
            default -> numeric(path, rules, decimal(value, field.getType()), value);
        }
    }

    private void string(String path, Message rules, String value) {
        int chars = value.codePointCount(0, value.length());
        int bytes = value.getBytes(StandardCharsets.UTF_8).length;
        for (Map.Entry<FieldDescriptor, Object> rule : rules.getAllFields().entrySet()) {
            Object r = rule.getValue();
            String problem = switch (rule.getKey().getName()) {
                case "const" -> value.equals(r) ? null : "value must equal \"" + r + "\"";
                case "len" -> chars == (long) r ? null : "value length must be " + r + " characters";
                case "min_len" -> chars >= (long) r ? null : "value length must be at least " + r + " characters";
                case "max_len" -> chars <= (long) r ? null : "value length must be at most " + r + " characters";
                case "len_bytes" -> bytes == (long) r ? null : "value length must be " + r + " bytes";
                case "min_bytes" -> bytes >= (long) r ? null : "value length must be at least " + r + " bytes";
                case "max_bytes" -> bytes <= (long) r ? null : "value length must be at most " + r + " bytes";
                case "pattern" -> Pattern.compile((String) r).matcher(value).find() ? null
                        : "value does not match regex pattern \"" + r + "\"";
                case "prefix" -> value.startsWith((String) r) ? null : "value does not have prefix \"" + r + "\"";
                case "suffix" -> value.endsWith((String) r) ? null : "value does not have suffix \"" + r + "\"";
                case "contains" -> value.contains((String) r) ? null : "value does not contain \"" + r + "\"";
                case "not_contains" -> value.contains((String) r) ? "value contains \"" + r + "\"" : null;
                case "hostname" -> HOSTNAME.matcher(value).matches() ? null : "value must be a valid hostname";
                case "ipv4" -> IPV4.matcher(value).matches() ? null : "value must be a valid IPv4 address";
                case "ipv6" -> IPV6.matcher(value).matches() ? null : "value must be a valid IPv6 address";
                case "ip" -> IPV4.matcher(value).matches() || IPV6.matcher(value).matches() ? null
                        : "value must be a valid IP address";
                case "address" -> IPV4.matcher(value).matches() || IPV6.matcher(value).matches()
                        || HOSTNAME.matcher(value).matches() ? null : "value must be a valid hostname or IP address";
                case "uuid" -> UUID.matcher(value).matches() ? null : "value must be a valid UUID";
                case "well_known_regex" -> headerRule(rules, (EnumValueDescriptor) r, value);
                default -> null;
            };
            if (problem != null) {
                violations.add(path + ": " + problem);
            }
        }
        inList(path, rules, value);
    }

    private static String headerRule(Message rules, EnumValueDescriptor which, String value) {
        boolean strict = !Boolean.FALSE.equals(get(rules, "strict"));
        Pattern pattern = switch (which.getName()) {
            case "HTTP_HEADER_NAME" -> strict ? HEADER_NAME : LOOSE_HEADER;
            case "HTTP_HEADER_VALUE" -> strict ? HEADER_VALUE : LOOSE_HEADER;
            default -> null;
        };
        return pattern == null || pattern.matcher(value).matches() ? null
                : "value does not match regex pattern \"" + pattern.pattern() + "\" (" + which.getName() + ")";
    }

    private void bytes(String path, Message rules, ByteString value) {
        for (Map.Entry<FieldDescriptor, Object> rule : rules.getAllFields().entrySet()) {
            Object r = rule.getValue();
            String problem = switch (rule.getKey().getName()) {
                case "const" -> value.equals(r) ? null : "value must equal the given bytes";
                case "len" -> value.size() == (long) r ? null : "value length must be " + r + " bytes";
                case "min_len" -> value.size() >= (long) r ? null : "value length must be at least " + r + " bytes";
                case "max_len" -> value.size() <= (long) r ? null : "value length must be at most " + r + " bytes";
                default -> null;
            };
            if (problem != null) {
                violations.add(path + ": " + problem);
            }
        }
    }

    /**
     * const, lt/lte/gt/gte (a range when the upper bound is above the lower one, else the outside of one, as
     * protoc-gen-validate reads them) and in/not_in, on numbers and durations alike.
     */
    private void numeric(String path, Message rules, BigDecimal value, Object shown) {
        BigDecimal lower = null;
        BigDecimal upper = null;
        boolean lowerInclusive = false;
        boolean upperInclusive = false;
        for (Map.Entry<FieldDescriptor, Object> rule : rules.getAllFields().entrySet()) {
            FieldDescriptor f = rule.getKey();
            switch (f.getName()) {
                case "const" -> {
                    BigDecimal expected = decimal(rule.getValue(), f.getType());
                    if (value.compareTo(expected) != 0) {
                        violations.add(path + ": value must equal " + show(rule.getValue(), expected));
                    }
                }
                case "gt", "gte" -> {
                    lower = decimal(rule.getValue(), f.getType());
                    lowerInclusive = f.getName().equals("gte");
                }
                case "lt", "lte" -> {
                    upper = decimal(rule.getValue(), f.getType());
                    upperInclusive = f.getName().equals("lte");
                }
                case "in", "not_in" -> {
                    boolean found = false;
                    for (Object candidate : (List<?>) rule.getValue()) {
                        found |= value.compareTo(decimal(candidate, f.getType())) == 0;
                    }
                    if (found != f.getName().equals("in")) {
                        violations.add(path + ": value must " + (found ? "not " : "") + "be in list "
                                + ((List<?>) rule.getValue()).stream().map(v -> show(v, decimal(v, f.getType())))
                                .toList());
                    }
                }
                default -> {
                }
            }
        }
        boolean aboveLower = lower == null || (lowerInclusive ? value.compareTo(lower) >= 0 : value.compareTo(lower) > 0);
        boolean belowUpper = upper == null || (upperInclusive ? value.compareTo(upper) <= 0 : value.compareTo(upper) < 0);
        boolean ok = lower != null && upper != null && upper.compareTo(lower) <= 0
                ? aboveLower || belowUpper : aboveLower && belowUpper;
        if (!ok) {
            StringBuilder demand = new StringBuilder();
            if (lower != null) {
                demand.append(lowerInclusive ? "greater than or equal to " : "greater than ").append(seconds(rules, lower));
            }
            if (upper != null) {
                demand.append(lower != null ? (upper.compareTo(lower) <= 0 ? " or " : " and ") : "")
                        .append(upperInclusive ? "less than or equal to " : "less than ").append(seconds(rules, upper));
            }
            violations.add(path + ": value " + show(shown, value) + " must be " + demand);
        }
    }

    private void repeated(String path, Validate.RepeatedRules rules, List<?> items, FieldDescriptor field) {
        if (rules.getIgnoreEmpty() && items.isEmpty()) {
            return;
        }
        if (rules.hasMinItems() && items.size() < rules.getMinItems()) {
            violations.add(path + ": value must contain at least " + rules.getMinItems() + " item(s)");
        }
        if (rules.hasMaxItems() && items.size() > rules.getMaxItems()) {
            violations.add(path + ": value must contain no more than " + rules.getMaxItems() + " item(s)");
        }
        if (rules.getUnique() && new HashSet<>(items).size() != items.size()) {
            violations.add(path + ": repeated value must contain unique items");
        }
        for (int i = 0; i < items.size(); i++) {
            value(path + "[" + i + "]", rules.hasItems() ? rules.getItems() : null, items.get(i), field, true);
        }
    }

    private void map(String path, Validate.MapRules rules, List<Message> entries) {
        if (rules.getIgnoreEmpty() && entries.isEmpty()) {
            return;
        }
        if (rules.hasMinPairs() && entries.size() < rules.getMinPairs()) {
            violations.add(path + ": value must contain at least " + rules.getMinPairs() + " pair(s)");
        }
        if (rules.hasMaxPairs() && entries.size() > rules.getMaxPairs()) {
            violations.add(path + ": value must contain no more than " + rules.getMaxPairs() + " pair(s)");
        }
        for (Message entry : entries) {
            FieldDescriptor key = entry.getDescriptorForType().findFieldByName("key");
            FieldDescriptor value = entry.getDescriptorForType().findFieldByName("value");
            String at = path + "[" + entry.getField(key) + "]";
            if (rules.hasKeys()) {
                value(at + " (key)", rules.getKeys(), entry.getField(key), key, true);
            }
            if (rules.hasValues()) {
                // Message values are walked by the caller; only the rules on the value apply here.
                FieldRules valueRules = rules.getValues();
                if (valueRules.getTypeCase() != FieldRules.TypeCase.TYPE_NOT_SET) {
                    typed(at, typedRules(valueRules), entry.getField(value), value, true);
                }
            }
        }
    }

    private void unpacked(String path, Any any) {
        String name = any.getTypeUrl().substring(any.getTypeUrl().lastIndexOf('/') + 1);
        Descriptor type;
        try {
            type = types.find(name);
        } catch (IllegalArgumentException e) {
            type = null;
        }
        if (type == null) {
            // The schema parse refuses types it does not know; an Any built otherwise is not ours to judge.
            return;
        }
        try {
            message(path, DynamicMessage.parseFrom(type, any.getValue()));
        } catch (InvalidProtocolBufferException e) {
            violations.add(path + ": " + name + " does not decode: " + e.getMessage());
        }
    }

    private void inList(String path, Message rules, Object value) {
        for (String name : List.of("in", "not_in")) {
            FieldDescriptor f = rules.getDescriptorForType().findFieldByName(name);
            if (f == null || rules.getRepeatedFieldCount(f) == 0) {
                continue;
            }
            List<?> list = (List<?>) rules.getField(f);
            if (list.contains(value) != name.equals("in")) {
                violations.add(path + ": value must " + (name.equals("in") ? "" : "not ") + "be in list " + list);
            }
        }
    }

    /** The rules of the one kind set in {@code rules} ({@code string}, {@code uint32}, {@code duration}...). */
    private static Message typedRules(FieldRules rules) {
        return (Message) rules.getField(rules.getOneofFieldDescriptor(rules.getDescriptorForType().getOneofs().get(0)));
    }

    private static Object get(Message rules, String name) {
        FieldDescriptor f = rules.getDescriptorForType().findFieldByName(name);
        return f == null || f.isRepeated() || !rules.hasField(f) ? null : rules.getField(f);
    }

    private static boolean isEmpty(Object value) {
        if (value instanceof String string) {
            return string.isEmpty();
        } else if (value instanceof ByteString bytes) {
            return bytes.isEmpty();
        } else if (value instanceof EnumValueDescriptor e) {
            return e.getNumber() == 0;
        } else if (value instanceof Boolean b) {
            return !b;
        } else if (value instanceof Number n) {
            return n.doubleValue() == 0;
        } else if (value instanceof Message m) {
            return m.equals(m.getDefaultInstanceForType());
        }
        return false;
    }

    /** A number (unsigned where the proto type is) or a Duration/Timestamp (in seconds) as a decimal. */
    private static BigDecimal decimal(Object value, FieldDescriptor.Type type) {
        boolean unsigned = type == FieldDescriptor.Type.UINT32 || type == FieldDescriptor.Type.FIXED32
                || type == FieldDescriptor.Type.UINT64 || type == FieldDescriptor.Type.FIXED64;
        if (value instanceof Integer i) {
            return BigDecimal.valueOf(unsigned ? Integer.toUnsignedLong(i) : i);
        } else if (value instanceof Long l) {
            return unsigned ? new BigDecimal(Long.toUnsignedString(l)) : BigDecimal.valueOf(l);
        } else if (value instanceof Float f) {
            return new BigDecimal(Float.toString(f));
        } else if (value instanceof Double d) {
            return BigDecimal.valueOf(d);
        } else if (value instanceof Message m) {
            Descriptor d = m.getDescriptorForType();
            long seconds = (Long) m.getField(d.findFieldByName("seconds"));
            int nanos = (Integer) m.getField(d.findFieldByName("nanos"));
            return BigDecimal.valueOf(seconds).add(BigDecimal.valueOf(nanos, 9));
        }
        throw new IllegalArgumentException("not a number: " + value);
    }

    private static String show(Object raw, BigDecimal value) {
        return raw instanceof Message ? value.stripTrailingZeros().toPlainString() + "s" : value.toPlainString();
    }

    private static String seconds(Message rules, BigDecimal bound) {
        String name = rules.getDescriptorForType().getName();
        boolean time = name.equals("DurationRules") || name.equals("TimestampRules");
        return bound.stripTrailingZeros().toPlainString() + (time ? "s" : "");
    }

    private static String at(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }
}
