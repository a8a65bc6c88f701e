package io.istiovm.agent.cli;

import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.javaprop.JavaPropsMapper;
import com.fasterxml.jackson.dataformat.javaprop.JavaPropsSchema;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigLoader;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.VisibleText;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "check", mixinStandardHelpOptions = true,
        description = {"Validate the configuration and print the effective value of every key with its source "
                + "(default, sidecar.env:LINE, cluster.env:LINE, environment).",
            "Problems go to standard error, each naming file, line, key and value.",
            "The configuration alone: " + CheckCommand.HOST_CHECKS})
final class CheckCommand extends ConfiguredCommand {
    enum Format { text, json, properties }

    /** What check does not look at, and where it is looked at: said in the help and in every output format. */
    static final String HOST_CHECKS = "the checks that need this host (sshd's ports against ISTIO_INBOUND_PORTS, "
            + "the identity files, the Envoy binary and user, the bootstrap override, the hosts.d sources, and who "
            + "besides root can change the binary, the override and the hosts sources) are made by "
            + "`istio-vm-agent run --dry-run`, which exits as `run` would.";


    @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "text",
            description = "text, json or properties (default: ${DEFAULT-VALUE}).")
    Format format;

    @Option(names = "--strict", description = "Treat warnings (unknown keys, keys without effect) as errors.")
    boolean strict;

    CheckCommand(CliEnvironment env) {
        super(env);
    }

    @Override
    public Integer call() throws ConfigException {
        ConfigLoader.Result result = config.load(env);
        if (format == Format.json) {
            printJson(env.out(), result);
        } else if (format == Format.properties) {
            printProperties(env.out(), result.config());
        } else {
            printText(env.out(), result.config());
        }
        env.out().flush();
        if (strict && !result.warnings().isEmpty()) {
            env.err().println("configuration has " + result.warnings().size() + " warning(s) and --strict is set");
            env.err().flush();
            return ExitCodes.CONFIG;
        }
        return ExitCodes.OK;
    }

    private static void printText(PrintWriter out, AgentConfig config) {
        out.println("sidecar.env  " + visible(config.files().sidecarEnv().toString())
                + (Files.exists(config.files().sidecarEnv()) ? "" : "  (not present; optional)"));
        out.println("cluster.env  " + visible(config.files().clusterEnv().toString()));
        out.println("host checks  " + HOST_CHECKS);
        out.println();
        List<AgentConfig.Entry> entries = config.entries();
        int nameWidth = entries.stream().mapToInt(e -> e.name().length()).max().orElse(10);
        // File paths are left out of the width so that the layout does not depend on where the files are.
        int valueWidth = Math.min(40, entries.stream()
                .filter(e -> e.key() == null || e.key().group() != ConfigKey.Group.LOCATION)
                .mapToInt(e -> shown(e).length()).max().orElse(10));
        out.println(pad("KEY", nameWidth) + "  " + pad("VALUE", valueWidth) + "  SOURCE");
        for (AgentConfig.Entry entry : entries) {
            StringBuilder source = new StringBuilder(entry.source().label());
            if (entry.overrides() != null) {
                source.append(" (overrides ").append(entry.overrides().label()).append(')');
            }
            if (entry.key() != null && entry.key().isCompatOnly()) {
                source.append(" [accepted, no effect]");
            }
            out.println(pad(entry.name(), nameWidth) + "  " + pad(shown(entry), valueWidth) + "  "
                    + visible(source.toString()));
        }
    }

    private static String shown(AgentConfig.Entry entry) {
        return entry.isSet() ? (entry.formatted().isEmpty() ? "(empty)" : visible(entry.formatted())) : "(unset)";
    }

    /**
     * Values carry no control characters (the loader refuses them), but paths and file names may: every format
     * shows them escaped, never raw, so that output cannot move the cursor or fake a line.
     */
    private static String visible(String text) {
        return VisibleText.escape(text);
    }

    private static String pad(String text, int width) {
        return text.length() >= width ? text : text + " ".repeat(width - text.length());
    }

    /** The effective values as a Java properties document, for tooling that consumes that format. */
    private static void printProperties(PrintWriter out, AgentConfig config) {
        Map<String, String> values = new LinkedHashMap<>();
        for (AgentConfig.Entry entry : config.entries()) {
            if (entry.isSet()) {
                values.put(entry.name(), visible(entry.formatted()));
            }
        }
        try {
            // Without a path separator, dotted or underscored names stay flat keys instead of nesting.
            out.print(new JavaPropsMapper().writer(JavaPropsSchema.emptySchema().withoutPathSeparator())
                    .writeValueAsString(values));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** JSON's own escapes for every character {@link VisibleText} would escape (Jackson leaves DEL, C1 as is). */
    private static final class VisibleJson extends CharacterEscapes {
        private static final long serialVersionUID = 1L;
        private final int[] ascii = CharacterEscapes.standardAsciiEscapesForJSON();

        VisibleJson() {
            ascii[0x7f] = CharacterEscapes.ESCAPE_STANDARD;
        }

        @Override
        public int[] getEscapeCodesForAscii() {
            return ascii;
        }

        @Override
        public SerializableString getEscapeSequence(int ch) {
            return ch <= 0xffff && VisibleText.needsEscape((char) ch)
                    ? new SerializedString(String.format("\\u%04x", ch)) : null;
        }
    }

    private static void printJson(PrintWriter out, ConfigLoader.Result result) {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        mapper.getFactory().setCharacterEscapes(new VisibleJson());
        ObjectNode root = mapper.createObjectNode();
        root.put("sidecarEnv", result.config().files().sidecarEnv().toString());
        root.put("clusterEnv", result.config().files().clusterEnv().toString());
        root.put("hostChecks", HOST_CHECKS);
        ArrayNode keys = root.putArray("keys");
        for (AgentConfig.Entry entry : result.config().entries()) {
            ObjectNode node = keys.addObject();
            node.put("name", entry.name());
            if (entry.isSet()) {
                node.put("value", entry.formatted());
            } else {
                node.putNull("value");
            }
            node.put("source", entry.source().label());
            if (entry.overrides() != null) {
                node.put("overrides", entry.overrides().label());
            }
            node.put("effective", entry.key() == null || !entry.key().isCompatOnly());
        }
        ArrayNode warnings = root.putArray("warnings");
        for (ConfigProblem warning : result.warnings()) {
            warnings.add(warning.render());
        }
        try {
            out.println(mapper.writeValueAsString(root));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
