package io.istiovm.agent.it.envoy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.pgv.validate.Validate;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The stand-in's own judge of a bootstrap, written apart from the agent's ({@code EnvoyBootstrap},
 * {@code BootstrapSchema}, {@code ValidationRules} are not used): it walks the JSON text itself against the
 * descriptors of Envoy's API protos, as Envoy's loader does: every key must be a field of its message (proto or
 * JSON name), every value of the field's JSON kind, {@code typed_config} of a type the API defines (any type in
 * the API artifact, as an Envoy with every upstream extension compiled in), and every {@code (validate.rules)} /
 * {@code (validate.required)} option on the path satisfied, with unwritten scalars taken as their zero value as
 * protoc-gen-validate does. What it covers is the rule kinds Envoy's bootstrap protos use: string lengths,
 * prefixes, patterns and header names, numeric and duration bounds, const/in, enum defined_only, repeated and map
 * sizes, required messages and oneofs.
 */
final class StandInBootstrapValidator {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern DURATION = Pattern.compile("(-?)([0-9]+)(?:\\.([0-9]{1,9}))?s");
    private static final Pattern HEADER_NAME = Pattern.compile(":?[0-9a-zA-Z!#$%&'*+\\-.^_|~`]+");

    private final List<String> problems = new ArrayList<>();
    private final Set<Descriptor> types = new LinkedHashSet<>();

    private StandInBootstrapValidator() {
    }

    /** The verdict on one bootstrap: the problems, and the bootstrap itself when there are none. */
    record Verdict(List<String> problems, Optional<Bootstrap> bootstrap) {
    }

    /** Judges {@code json} as an envoy.config.bootstrap.v3.Bootstrap. */
    static Verdict judge(String json) {
        StandInBootstrapValidator validator = new StandInBootstrapValidator();
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            return new Verdict(List.of("not JSON: " + e.getOriginalMessage()), Optional.empty());
        }
        validator.message("", root, Bootstrap.getDescriptor());
        if (!validator.problems.isEmpty()) {
            return new Verdict(List.copyOf(validator.problems), Optional.empty());
        }
        // Only now the message itself, for the stand-in's own use, with the types the walk found.
        Bootstrap.Builder bootstrap = Bootstrap.newBuilder();
        try {
            JsonFormat.parser().usingTypeRegistry(JsonFormat.TypeRegistry.newBuilder().add(validator.types).build())
                    .merge(json, bootstrap);
        } catch (InvalidProtocolBufferException e) {
            return new Verdict(List.of("does not parse: " + e.getMessage()), Optional.empty());
        }
        return new Verdict(List.of(), Optional.of(bootstrap.build()));
    }

    /** The problems of {@code json}; empty when Envoy would take it. */
    static List<String> problems(String json) {
        return judge(json).problems();
    }

    private void message(String path, JsonNode node, Descriptor type) {
        if (!node.isObject()) {
            problems.add(path + ": expected a JSON object for " + type.getFullName());
            return;
        }
        if (type.getOptions().getExtension(Validate.disabled)) {
            return;
        }
        switch (type.getFullName()) {
            case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.Empty" -> {
                return;
            }
            case "google.protobuf.Any" -> {
                any(path, node);
                return;
            }
            default -> {
            }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (field(type, entry.getKey()) == null) {
                problems.add(join(path, entry.getKey()) + ": unknown field of " + type.getFullName());
            }
        }
        for (OneofDescriptor oneof : type.getRealOneofs()) {
            long set = oneof.getFields().stream().filter(f -> written(node, f) != null).count();
            if (set > 1) {
                problems.add(join(path, oneof.getName()) + ": more than one member of the oneof is set");
            } else if (set == 0 && oneof.getOptions().getExtension(Validate.required)) {
                problems.add(join(path, oneof.getName()) + ": a member of the oneof is required");
            }
        }
        for (FieldDescriptor field : type.getFields()) {
            JsonNode value = written(node, field);
            if (value != null && value.isNull()) {
                value = null;
            }
            Validate.FieldRules rules = field.getOptions().getExtension(Validate.rules);
            String at = join(path, field.getName());
            // An unwritten oneof member (or proto3 optional) is not validated: only the member that is set counts.
            if (value == null && field.getContainingOneof() != null) {
                continue;
            }
            if (field.isMapField()) {
                map(at, value, field, rules);
            } else if (field.isRepeated()) {
                repeated(at, value, field, rules);
            } else {
                single(at, value, field, rules);
            }
        }
    }

    private void any(String path, JsonNode node) {
        JsonNode url = node.get("@type");
        if (url == null || !url.isTextual()) {
            problems.add(path + ": an Any without @type");
            return;
        }
        String name = url.asText().substring(url.asText().lastIndexOf('/') + 1);
        Descriptor type = apiType(name);
        if (type == null) {
            problems.add(path + ": unknown type " + url.asText());
            return;
        }
        types.add(type);
        com.fasterxml.jackson.databind.node.ObjectNode rest = node.deepCopy();
        rest.remove("@type");
        message(path, rest, type);
    }

    /** The descriptor of an API message by its full name: the generated class Envoy's Java API jar has for it. */
    private static Descriptor apiType(String fullName) {
        String className = (fullName.startsWith("envoy.") ? "io.envoyproxy." : "") + fullName;
        try {
            Class<?> generated = Class.forName(className);
            if (!Message.class.isAssignableFrom(generated)) {
                return null;
            }
            return (Descriptor) generated.getMethod("getDescriptor").invoke(null);
        } catch (ReflectiveOperationException e) {
            return null;
        }
    }

    private void map(String path, JsonNode value, FieldDescriptor field, Validate.FieldRules rules) {
        int size = value == null ? 0 : value.size();
        if (value != null && !value.isObject()) {
            problems.add(path + ": expected a JSON object (a map)");
            return;
        }
        if (rules.hasMap()) {
            Validate.MapRules map = rules.getMap();
            if (!(map.getIgnoreEmpty() && size == 0)) {
                if (map.hasMinPairs() && size < map.getMinPairs()) {
                    problems.add(path + ": needs at least " + map.getMinPairs() + " entries");
                }
                if (map.hasMaxPairs() && size > map.getMaxPairs()) {
                    problems.add(path + ": allows at most " + map.getMaxPairs() + " entries");
                }
            }
        }
        if (value == null) {
            return;
        }
        FieldDescriptor valueField = field.getMessageType().findFieldByName("value");
        Validate.FieldRules valueRules = rules.hasMap() && rules.getMap().hasValues() ? rules.getMap().getValues()
                : Validate.FieldRules.getDefaultInstance();
        for (Iterator<Map.Entry<String, JsonNode>> it = value.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            single(path + "[" + entry.getKey() + "]", entry.getValue(), valueField, valueRules);
        }
    }

    private void repeated(String path, JsonNode value, FieldDescriptor field, Validate.FieldRules rules) {
        if (value != null && !value.isArray()) {
            problems.add(path + ": expected a JSON array");
            return;
        }
        int size = value == null ? 0 : value.size();
        Validate.FieldRules items = Validate.FieldRules.getDefaultInstance();
        if (rules.hasRepeated()) {
            Validate.RepeatedRules repeated = rules.getRepeated();
            if (!(repeated.getIgnoreEmpty() && size == 0)) {
                if (repeated.hasMinItems() && size < repeated.getMinItems()) {
                    problems.add(path + ": needs at least " + repeated.getMinItems() + " items");
                }
                if (repeated.hasMaxItems() && size > repeated.getMaxItems()) {
                    problems.add(path + ": allows at most " + repeated.getMaxItems() + " items");
                }
            }
            items = repeated.getItems();
        }
        for (int i = 0; value != null && i < value.size(); i++) {
            single(path + "[" + i + "]", value.get(i), field, items);
        }
    }

    /** One value (or none written: {@code value} null) of a singular field, or one element of a list or map. */
    private void single(String path, JsonNode value, FieldDescriptor field, Validate.FieldRules rules) {
        if (field.getType() == FieldDescriptor.Type.MESSAGE) {
            messageField(path, value, field.getMessageType(), rules);
            return;
        }
        if (value == null && field.hasPresence()) {
            return;
        }
        switch (field.getJavaType()) {
            case STRING -> {
                if (value != null && !value.isTextual()) {
                    problems.add(path + ": expected a string");
                    return;
                }
                if (rules.hasString()) {
                    string(path, value == null ? "" : value.asText(), rules.getString());
                }
            }
            case BOOLEAN -> {
                if (value != null && !value.isBoolean()) {
                    problems.add(path + ": expected true or false");
                }
            }
            case ENUM -> enumValue(path, value, field.getEnumType(), rules);
            case BYTE_STRING -> {
                if (value != null && !value.isTextual()) {
                    problems.add(path + ": expected base64 text");
                }
            }
            default -> {
                BigDecimal number = number(path, value);
                if (number != null) {
                    bounds(path, number, numericRules(rules), "");
                }
            }
        }
    }

    private void messageField(String path, JsonNode value, Descriptor type, Validate.FieldRules rules) {
        if (value == null) {
            boolean required = rules.getMessage().getRequired()
                    || (rules.hasDuration() && rules.getDuration().getRequired())
                    || (rules.hasAny() && rules.getAny().getRequired())
                    || (rules.hasTimestamp() && rules.getTimestamp().getRequired());
            if (required) {
                problems.add(path + ": is required");
            }
            return;
        }
        switch (type.getFullName()) {
            case "google.protobuf.Duration" -> {
                BigDecimal seconds = duration(path, value);
                if (seconds != null && rules.hasDuration()) {
                    bounds(path, seconds, rules.getDuration(), "s");
                }
                return;
            }
            case "google.protobuf.Timestamp" -> {
                if (!value.isTextual()) {
                    problems.add(path + ": expected an RFC 3339 timestamp");
                }
                return;
            }
            case "google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.Int32Value",
                 "google.protobuf.Int64Value", "google.protobuf.DoubleValue", "google.protobuf.FloatValue" -> {
                BigDecimal number = number(path, value);
                if (number != null) {
                    bounds(path, number, numericRules(rules), "");
                }
                return;
            }
            case "google.protobuf.StringValue" -> {
                if (!value.isTextual()) {
                    problems.add(path + ": expected a string");
                } else if (rules.hasString()) {
                    string(path, value.asText(), rules.getString());
                }
                return;
            }
            case "google.protobuf.BoolValue" -> {
                if (!value.isBoolean()) {
                    problems.add(path + ": expected true or false");
                }
                return;
            }
            case "google.protobuf.ListValue" -> {
                return;
            }
            default -> {
            }
        }
        if (!rules.getMessage().getSkip()) {
            message(path, value, type);
        }
    }

    private void enumValue(String path, JsonNode value, EnumDescriptor type, Validate.FieldRules rules) {
        int number;
        if (value == null) {
            number = 0;
        } else if (value.isTextual()) {
            if (type.findValueByName(value.asText()) == null) {
                problems.add(path + ": '" + value.asText() + "' is not a value of " + type.getFullName());
                return;
            }
            number = type.findValueByName(value.asText()).getNumber();
        } else if (value.isInt()) {
            number = value.asInt();
        } else {
            problems.add(path + ": expected an enum name or number");
            return;
        }
        if (rules.hasEnum() && rules.getEnum().getDefinedOnly() && type.findValueByNumber(number) == null) {
            problems.add(path + ": " + number + " is not a defined value of " + type.getFullName());
        }
        if (rules.hasEnum() && rules.getEnum().getInCount() > 0 && !rules.getEnum().getInList().contains(number)) {
            problems.add(path + ": " + number + " is not one of " + rules.getEnum().getInList());
        }
    }

    private void string(String path, String value, Validate.StringRules rules) {
        if (rules.getIgnoreEmpty() && value.isEmpty()) {
            return;
        }
        long length = value.codePoints().count();
        if (rules.hasMinLen() && length < rules.getMinLen()) {
            problems.add(path + ": shorter than " + rules.getMinLen() + " characters");
        }
        if (rules.hasMaxLen() && length > rules.getMaxLen()) {
            problems.add(path + ": longer than " + rules.getMaxLen() + " characters");
        }
        if (rules.hasMinBytes() && value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < rules.getMinBytes()) {
            problems.add(path + ": shorter than " + rules.getMinBytes() + " bytes");
        }
        if (rules.hasMaxBytes() && value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > rules.getMaxBytes()) {
            problems.add(path + ": longer than " + rules.getMaxBytes() + " bytes");
        }
        if (rules.hasPrefix() && !value.startsWith(rules.getPrefix())) {
            problems.add(path + ": does not start with '" + rules.getPrefix() + "'");
        }
        if (rules.hasPattern() && !Pattern.compile(rules.getPattern()).matcher(value).find()) {
            problems.add(path + ": does not match /" + rules.getPattern() + "/");
        }
        if (rules.hasConst() && !value.equals(rules.getConst())) {
            problems.add(path + ": must be '" + rules.getConst() + "'");
        }
        if (rules.getInCount() > 0 && !rules.getInList().contains(value)) {
            problems.add(path + ": is not one of " + rules.getInList());
        }
        if (rules.getWellKnownRegex() == Validate.KnownRegex.HTTP_HEADER_NAME && rules.getStrict()
                && !HEADER_NAME.matcher(value).matches()) {
            problems.add(path + ": not an HTTP header name");
        }
    }

    /** The numeric rules of whatever kind is set (uint32, int64, double...), or none. */
    private static Message numericRules(Validate.FieldRules rules) {
        for (Map.Entry<FieldDescriptor, Object> set : rules.getAllFields().entrySet()) {
            if (set.getValue() instanceof Message m && set.getKey().getName().matches("u?int(32|64)|s?fixed(32|64)"
                    + "|sint(32|64)|double|float")) {
                return m;
            }
        }
        return null;
    }

    /** gt/gte/lt/lte/const/in of a numeric or duration rule message, read by field name. */
    private void bounds(String path, BigDecimal value, Message rules, String unit) {
        if (rules == null) {
            return;
        }
        BigDecimal gt = bound(rules, "gt");
        BigDecimal gte = bound(rules, "gte");
        BigDecimal lt = bound(rules, "lt");
        BigDecimal lte = bound(rules, "lte");
        BigDecimal low = gt != null ? gt : gte;
        BigDecimal high = lt != null ? lt : lte;
        boolean aboveLow = low == null || (gt != null ? value.compareTo(gt) > 0 : value.compareTo(gte) >= 0);
        boolean belowHigh = high == null || (lt != null ? value.compareTo(lt) < 0 : value.compareTo(lte) <= 0);
        boolean exclusiveRange = low != null && high != null && high.compareTo(low) <= 0;
        if (exclusiveRange ? !(aboveLow || belowHigh) : !(aboveLow && belowHigh)) {
            problems.add(path + ": " + plain(value) + unit + " is out of range (" + (gt != null ? "> " + plain(gt)
                    : gte != null ? ">= " + plain(gte) : "") + (high != null ? (low != null ? ", " : "") : "")
                    + (lt != null ? "< " + plain(lt) : lte != null ? "<= " + plain(lte) : "") + ")");
        }
        BigDecimal constant = bound(rules, "const");
        if (constant != null && value.compareTo(constant) != 0) {
            problems.add(path + ": must be " + plain(constant));
        }
    }

    private static String plain(BigDecimal number) {
        return number.signum() == 0 ? "0" : number.stripTrailingZeros().toPlainString();
    }

    private static BigDecimal bound(Message rules, String name) {
        FieldDescriptor f = rules.getDescriptorForType().findFieldByName(name);
        if (f == null || !rules.hasField(f)) {
            return null;
        }
        Object v = rules.getField(f);
        if (v instanceof com.google.protobuf.Duration d) {
            return BigDecimal.valueOf(d.getSeconds()).add(BigDecimal.valueOf(d.getNanos(), 9));
        }
        boolean unsigned = f.getType() == FieldDescriptor.Type.UINT32 || f.getType() == FieldDescriptor.Type.UINT64
                || f.getType() == FieldDescriptor.Type.FIXED32 || f.getType() == FieldDescriptor.Type.FIXED64;
        if (v instanceof Integer i) {
            return BigDecimal.valueOf(unsigned ? Integer.toUnsignedLong(i) : i);
        }
        if (v instanceof Long l) {
            return unsigned ? new BigDecimal(Long.toUnsignedString(l)) : BigDecimal.valueOf(l);
        }
        return new BigDecimal(v.toString());
    }

    private BigDecimal number(String path, JsonNode value) {
        if (value == null) {
            return BigDecimal.ZERO;
        }
        try {
            if (value.isNumber()) {
                return value.decimalValue();
            }
            if (value.isTextual()) {
                return new BigDecimal(value.asText());
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        problems.add(path + ": expected a number");
        return null;
    }

    private BigDecimal duration(String path, JsonNode value) {
        java.util.regex.Matcher m = value.isTextual() ? DURATION.matcher(value.asText()) : null;
        if (m == null || !m.matches()) {
            problems.add(path + ": expected a duration like \"1.5s\"");
            return null;
        }
        BigDecimal seconds = new BigDecimal(m.group(2) + (m.group(3) == null ? "" : "." + m.group(3)));
        return m.group(1).isEmpty() ? seconds : seconds.negate();
    }

    private static FieldDescriptor field(Descriptor type, String key) {
        FieldDescriptor byName = type.findFieldByName(key);
        if (byName != null) {
            return byName;
        }
        return type.getFields().stream().filter(f -> f.getJsonName().equals(key)).findFirst().orElse(null);
    }

    private static JsonNode written(JsonNode node, FieldDescriptor field) {
        JsonNode value = node.get(field.getName());
        return value != null ? value : node.get(field.getJsonName());
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }
}
