package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.IpAddresses;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The agent's block of the hosts file: one line per address (IPv4 first, then IPv6, each in numeric order) with
 * its names sorted and a comment naming where they came from. Equal inputs always render to equal bytes.
 */
public final class HostsBlock {
    /** Recognised by prefix, so that the rest of the marker text can change between versions. */
    public static final String BEGIN_PREFIX = "# BEGIN istio-vm-agent";
    public static final String END_PREFIX = "# END istio-vm-agent";
    static final String BEGIN = BEGIN_PREFIX + " -- names managed by istio-vm-agent; edits inside this block are "
            + "overwritten (sources: VM_AGENT_GATEWAY_ADDRESS, hosts, hosts.d/)";
    static final String END = END_PREFIX;

    private static final Comparator<InetAddress> ADDRESS_ORDER = Comparator
            .<InetAddress>comparingInt(a -> a instanceof Inet6Address ? 1 : 0)
            .thenComparing(InetAddress::getAddress, Arrays::compareUnsigned);

    /** One rendered line: an address, its names and the origins that asked for them. */
    public record Line(InetAddress address, List<String> names, List<String> origins) {
        public Line {
            names = List.copyOf(names);
            origins = List.copyOf(origins);
            // What HostsEntry guarantees, checked again where the text is rendered: one line, printable ASCII.
            names.forEach(HostsNames::requireHostName);
            origins.forEach(HostsNames::requireComment);
        }

        String render() {
            return IpAddresses.format(address) + " " + String.join(" ", names) + " # " + String.join(", ", origins);
        }
    }

    private final List<Line> lines;
    private final Map<String, List<HostsEntry>> byName;

    private HostsBlock(List<Line> lines, Map<String, List<HostsEntry>> byName) {
        this.lines = List.copyOf(lines);
        this.byName = byName;
    }

    public static HostsBlock empty() {
        return new HostsBlock(List.of(), Map.of());
    }

    /**
     * Builds the block, or fails when one name gets two addresses of the same family from different sources;
     * the error names both sources.
     */
    public static HostsBlock of(List<HostsEntry> entries) throws ConfigException {
        List<ConfigProblem> problems = new ArrayList<>();
        Map<String, List<HostsEntry>> byName = new LinkedHashMap<>();
        for (HostsEntry entry : entries) {
            List<HostsEntry> known = byName.computeIfAbsent(entry.name(), n -> new ArrayList<>());
            Optional<HostsEntry> clash = known.stream()
                    .filter(k -> k.sameFamily(entry.address()) && !k.address().equals(entry.address())
                            && !k.source().equals(entry.source()))
                    .findFirst();
            if (clash.isPresent()) {
                HostsEntry first = clash.get();
                problems.add(ConfigProblem.error(entry.source(), null, null, "conflict: " + entry.name()
                        + " is mapped to " + IpAddresses.format(entry.address()) + " here (" + entry.origin()
                        + ") and to " + IpAddresses.format(first.address()) + " at " + first.source().location()
                        + (first.origin().equals(first.source().label()) ? "" : " (" + first.origin() + ")")
                        + "; a name needs one address, remove one of the two"));
                continue;
            }
            known.add(entry);
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        Map<InetAddress, TreeSet<String>> names = new TreeMap<>(ADDRESS_ORDER);
        Map<InetAddress, TreeSet<String>> origins = new TreeMap<>(ADDRESS_ORDER);
        for (List<HostsEntry> list : byName.values()) {
            for (HostsEntry entry : list) {
                names.computeIfAbsent(entry.address(), a -> new TreeSet<>()).add(entry.name());
                origins.computeIfAbsent(entry.address(), a -> new TreeSet<>()).add(entry.origin());
            }
        }
        List<Line> lines = new ArrayList<>();
        names.forEach((address, set) -> lines.add(new Line(address, List.copyOf(set),
                List.copyOf(origins.get(address)))));
        return new HostsBlock(lines, byName);
    }

    public List<Line> lines() {
        return lines;
    }

    public boolean isEmpty() {
        return lines.isEmpty();
    }

    /** The entries for {@code name} (lower case), empty if the block does not map it. */
    List<HostsEntry> entries(String name) {
        return byName.getOrDefault(name, List.of());
    }

    /** The block as it is written: the two markers and the lines between them, each ending in LF. */
    public String render() {
        StringBuilder out = new StringBuilder(BEGIN).append('\n');
        for (Line line : lines) {
            out.append(line.render()).append('\n');
        }
        return out.append(END).append('\n').toString();
    }

    @Override
    public String toString() {
        return render();
    }
}
