package io.istiovm.agent.hosts;

import io.istiovm.agent.config.Cidr;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import java.io.StringReader;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * Istio {@code ServiceEntry} manifests as they are applied to the cluster (YAML or JSON, several documents per file,
 * or a {@code kind: List}): every host of an entry that has addresses becomes a hosts entry.
 * Reads the YAML node tree rather than Java objects so that every problem carries the line it is on.
 */
final class ServiceEntries {
    static final Set<String> API_VERSIONS = Set.of("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
            "networking.istio.io/v1");

    private final SourceText source;
    private final List<HostsEntry> entries;
    private final List<ConfigProblem> problems;

    private ServiceEntries(SourceText source, List<HostsEntry> entries, List<ConfigProblem> problems) {
        this.source = source;
        this.entries = entries;
        this.problems = problems;
    }

    static boolean isManifest(String fileName) {
        return fileName.endsWith(".yaml") || fileName.endsWith(".yml") || fileName.endsWith(".json");
    }

    static void parse(SourceText source, List<HostsEntry> entries, List<ConfigProblem> problems) {
        new ServiceEntries(source, entries, problems).parseAll();
    }

    private void parseAll() {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        // Aliases are not used in manifests; a few are harmless, many are a "billion laughs" document.
        options.setMaxAliasesForCollections(20);
        options.setCodePointLimit(SourceText.MAX_BYTES);
        Yaml yaml = new Yaml(new SafeConstructor(options));
        List<Node> documents = new ArrayList<>();
        try {
            for (Node document : yaml.composeAll(new StringReader(source.text()))) {
                documents.add(document);
            }
        } catch (MarkedYAMLException e) {
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String what = e.getProblem() != null ? e.getProblem() : e.getContext();
            error(mark == null ? 0 : mark.getLine() + 1, null, null, "malformed YAML: " + what
                    + (mark == null ? "" : " (column " + (mark.getColumn() + 1) + ")"));
            return;
        } catch (YAMLException e) {
            error(0, null, null, "malformed YAML: " + e.getMessage());
            return;
        }
        for (Node document : documents) {
            if (document != null) {
                object(document, "");
            }
        }
    }

    private void object(Node node, String path) {
        Map<String, Node> fields = mapping(node, path.isEmpty() ? "document" : path);
        if (fields == null) {
            return;
        }
        String apiVersion = scalar(fields.get("apiVersion"), path + "apiVersion", node);
        String kind = scalar(fields.get("kind"), path + "kind", node);
        if (apiVersion == null || kind == null) {
            return;
        }
        if (kind.equals("List") && apiVersion.equals("v1")) {
            Node items = fields.get("items");
            List<Node> list = sequence(items, path + "items", node);
            if (list != null) {
                for (int i = 0; i < list.size(); i++) {
                    object(list.get(i), path + "items[" + i + "].");
                }
            }
            return;
        }
        if (!API_VERSIONS.contains(apiVersion)) {
            error(line(fields.get("apiVersion")), path + "apiVersion", apiVersion, "not an Istio networking API "
                    + "version (networking.istio.io/v1alpha3, v1beta1 or v1)");
            return;
        }
        if (!kind.equals("ServiceEntry")) {
            error(line(fields.get("kind")), path + "kind", kind, "only ServiceEntry objects belong in hosts.d");
            return;
        }
        serviceEntry(node, fields, path);
    }

    private void serviceEntry(Node node, Map<String, Node> fields, String path) {
        Map<String, Node> metadata = fields.containsKey("metadata")
                ? mapping(fields.get("metadata"), path + "metadata") : Map.of();
        if (metadata == null) {
            return;
        }
        long errorsBefore = errorCount();
        String name = kubernetesName(metadata.get("name"), path + "metadata.name", false);
        String namespace = kubernetesName(metadata.get("namespace"), path + "metadata.namespace", true);
        name = (name == null ? "(unnamed)" : name);
        if (namespace != null) {
            name = namespace + "/" + name;
        }
        Source where = new Source.FileLine(source.file(), line(node));
        String origin = "ServiceEntry " + name + " (" + where.label() + ")";
        Map<String, Node> spec = fields.containsKey("spec") ? mapping(fields.get("spec"), path + "spec") : null;
        if (spec == null) {
            if (!fields.containsKey("spec")) {
                error(line(node), path + "spec", null, "ServiceEntry " + name + " has no spec");
            }
            return;
        }
        List<Node> hostNodes = sequence(spec.get("hosts"), path + "spec.hosts", fields.get("spec"));
        if (hostNodes == null) {
            return;
        }
        if (hostNodes.isEmpty()) {
            error(line(spec.get("hosts")), path + "spec.hosts", null, "is empty; a ServiceEntry needs a host");
            return;
        }
        List<String> hosts = new ArrayList<>();
        for (int i = 0; i < hostNodes.size(); i++) {
            String key = path + "spec.hosts[" + i + "]";
            String host = scalar(hostNodes.get(i), key, null);
            if (host == null) {
                continue;
            }
            if (host.equals("*") || host.startsWith("*.") && HostsNames.hostNameProblem(host.substring(2)).isEmpty()) {
                warning(line(hostNodes.get(i)), key, host, "a wildcard host cannot be written to a hosts file; "
                        + "skipped");
                continue;
            }
            Optional<String> problem = HostsNames.hostNameProblem(host);
            if (problem.isPresent()) {
                error(line(hostNodes.get(i)), key, host, "bad host name: " + problem.get()
                        + (host.contains("*") ? " ('*' is allowed only as the whole first label, as in *.example.com)"
                        : ""));
            } else {
                hosts.add(host);
            }
        }
        if (!spec.containsKey("addresses")) {
            warning(line(node), null, null, "ServiceEntry " + name + " has no spec.addresses, so its hosts are "
                    + "resolved through DNS; nothing is written for them");
            return;
        }
        List<Node> addressNodes = sequence(spec.get("addresses"), path + "spec.addresses", fields.get("spec"));
        if (addressNodes == null) {
            return;
        }
        if (addressNodes.isEmpty()) {
            warning(line(spec.get("addresses")), path + "spec.addresses", null, "ServiceEntry " + name
                    + " has an empty address list, so its hosts are resolved through DNS; nothing is written for them");
            return;
        }
        List<InetAddress> addresses = new ArrayList<>();
        for (int i = 0; i < addressNodes.size(); i++) {
            String key = path + "spec.addresses[" + i + "]";
            String text = scalar(addressNodes.get(i), key, null);
            InetAddress address = text == null ? null : address(addressNodes.get(i), key, text);
            if (address != null) {
                addresses.add(address);
            }
        }
        if (errorCount() > errorsBefore) {
            return;
        }
        for (String host : hosts) {
            for (InetAddress address : addresses) {
                entries.add(new HostsEntry(host, address, where, origin));
            }
        }
    }

    /**
     * The valid Kubernetes name (or namespace) in {@code node}; null when it is absent, and null with an error when
     * it is not a valid name, which would otherwise reach the comment of the rendered line.
     */
    private String kubernetesName(Node node, String key, boolean namespace) {
        if (node == null) {
            return null;
        }
        String value = scalar(node, key, null);
        if (value == null) {
            return null;
        }
        Optional<String> problem = HostsNames.kubernetesNameProblem(value, namespace);
        if (problem.isPresent()) {
            error(line(node), key, value, (namespace ? "bad namespace: " : "bad ServiceEntry name: ") + problem.get());
            return null;
        }
        return value;
    }

    /** A single address, or a CIDR naming exactly one; a wider range is skipped with a warning (returns null). */
    private InetAddress address(Node node, String key, String text) {
        Optional<String> unprintable = HostsNames.unprintable(text);
        if (unprintable.isPresent()) {
            error(line(node), key, text, "bad address: " + unprintable.get());
            return null;
        }
        try {
            if (!text.contains("/")) {
                return IpAddresses.parse(text);
            }
            Cidr cidr = Cidr.parse(text);
            if (cidr.prefixLength() == (cidr.isIpv6() ? 128 : 32)) {
                return cidr.network();
            }
            warning(line(node), key, text, "is a range of addresses; a hosts file maps a name to one address, "
                    + "so it is skipped");
        } catch (InvalidValueException e) {
            error(line(node), key, text, "bad address: " + e.getMessage());
        }
        return null;
    }

    private Map<String, Node> mapping(Node node, String key) {
        if (!(node instanceof MappingNode mappingNode)) {
            error(line(node), key, null, "must be a mapping (key: value pairs)");
            return null;
        }
        Map<String, Node> fields = new LinkedHashMap<>();
        for (NodeTuple tuple : mappingNode.getValue()) {
            if (tuple.getKeyNode() instanceof ScalarNode keyNode
                    && fields.put(keyNode.getValue(), tuple.getValueNode()) != null) {
                String path = key.equals("document") ? "" : key + ".";
                error(line(keyNode), path + keyNode.getValue(), null, "is set twice in one mapping");
                return null;
            }
        }
        return fields;
    }

    private List<Node> sequence(Node node, String key, Node parent) {
        if (node == null) {
            error(line(parent), key, null, "is missing");
            return null;
        }
        if (!(node instanceof SequenceNode sequenceNode)) {
            error(line(node), key, null, "must be a list");
            return null;
        }
        return sequenceNode.getValue();
    }

    private String scalar(Node node, String key, Node parent) {
        if (node == null) {
            error(line(parent), key, null, "is missing");
            return null;
        }
        if (!(node instanceof ScalarNode scalarNode)) {
            error(line(node), key, null, "must be a single value");
            return null;
        }
        return scalarNode.getValue();
    }

    private long errorCount() {
        return problems.stream().filter(ConfigProblem::isError).count();
    }

    private static int line(Node node) {
        return node == null ? 0 : node.getStartMark().getLine() + 1;
    }

    private void error(int line, String key, String value, String reason) {
        problems.add(ConfigProblem.error(new Source.FileLine(source.file(), line), key, value, reason));
    }

    private void warning(int line, String key, String value, String reason) {
        problems.add(ConfigProblem.warning(new Source.FileLine(source.file(), line), key, value, reason));
    }
}
