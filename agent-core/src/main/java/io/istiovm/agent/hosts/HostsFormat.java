package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/** The /etc/hosts line format: an address, one or more names, an optional {@code #} comment. */
final class HostsFormat {
    private static final Pattern BLANKS = Pattern.compile("[ \t]+");

    private HostsFormat() {
    }

    /** One line's address and names, as written. */
    record Mapping(int line, String address, List<String> names) {
    }

    /** The mappings of a text without validating them; blank and comment-only lines are skipped. */
    static List<Mapping> mappings(List<String> lines) {
        List<Mapping> mappings = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int hash = line.indexOf('#');
            String data = (hash >= 0 ? line.substring(0, hash) : line).strip();
            if (data.isEmpty()) {
                continue;
            }
            String[] fields = BLANKS.split(data);
            mappings.add(new Mapping(i + 1, fields[0], List.of(fields).subList(1, fields.length)));
        }
        return mappings;
    }

    /** Strictly parses a hosts-format source: every address and every name must be valid. */
    static void parse(SourceText source, List<HostsEntry> entries, List<ConfigProblem> problems) {
        for (Mapping mapping : mappings(source.lines())) {
            Source where = new Source.FileLine(source.file(), mapping.line());
            Optional<String> unprintable = HostsNames.unprintable(mapping.address());
            if (unprintable.isPresent()) {
                problems.add(ConfigProblem.error(where, null, null, "bad address: " + unprintable.get()));
                continue;
            }
            InetAddress address;
            try {
                address = IpAddresses.parse(mapping.address());
            } catch (InvalidValueException e) {
                problems.add(ConfigProblem.error(where, null, null, "bad address: " + e.getMessage()));
                continue;
            }
            if (mapping.names().isEmpty()) {
                problems.add(ConfigProblem.error(where, null, null, "address " + mapping.address()
                        + " has no host names after it"));
                continue;
            }
            for (String name : mapping.names()) {
                Optional<String> problem = HostsNames.hostNameProblem(name);
                if (problem.isPresent()) {
                    problems.add(ConfigProblem.error(where, null, null, "bad host name: " + problem.get()));
                    continue;
                }
                entries.add(new HostsEntry(name, address, where, where.label()));
            }
        }
    }
}
