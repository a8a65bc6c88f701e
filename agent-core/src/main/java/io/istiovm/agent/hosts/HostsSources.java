package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Reads every source of the hosts block: the gateway's control-plane names, the {@code hosts} file and the
 * {@code hosts.d/} drop-ins (in file-name order), and reports every problem at once.
 */
public final class HostsSources {
    private HostsSources() {
    }

    /** The entries all sources ask for, and the warnings found on the way. */
    public record Desired(List<HostsEntry> entries, List<ConfigProblem> warnings) {
        public Desired {
            entries = List.copyOf(entries);
            warnings = List.copyOf(warnings);
        }
    }

    /** @throws ConfigException when any source is unreadable or invalid; carries every problem, warnings too */
    public static Desired read(HostsSettings settings) throws ConfigException {
        List<HostsEntry> entries = new ArrayList<>();
        List<ConfigProblem> problems = new ArrayList<>();
        settings.gatewayAddress().ifPresent(address -> {
            String origin = "VM_AGENT_GATEWAY_ADDRESS (" + settings.gatewaySource().label() + ")";
            for (String name : settings.gatewayNames()) {
                entries.add(new HostsEntry(name, address, settings.gatewaySource(), origin));
            }
        });
        if (Files.exists(settings.hostsFile(), LinkOption.NOFOLLOW_LINKS)) {
            readFile(settings.hostsFile(), false, entries, problems);
        }
        Path dropIns = settings.dropInDirectory();
        if (Files.exists(dropIns, LinkOption.NOFOLLOW_LINKS)) {
            for (Path file : dropIns(dropIns, problems)) {
                readFile(file, ServiceEntries.isManifest(file.getFileName().toString()), entries, problems);
            }
        }
        if (problems.stream().anyMatch(ConfigProblem::isError)) {
            throw new ConfigException(problems);
        }
        return new Desired(entries, problems);
    }

    /**
     * The drop-in files in name order. Hidden files and editor or package-manager leftovers are not sources, as
     * run-parts(8) treats them, so that an open editor or an upgrade does not change the block. A name that could
     * not go into the block's comments as it is (a newline, a control character, a blank, non-ASCII) is an error.
     */
    private static List<Path> dropIns(Path directory, List<ConfigProblem> problems) {
        if (!Files.isDirectory(directory)) {
            problems.add(ConfigProblem.error(new Source.FileLine(directory, 0), null, null,
                    "is not a directory; hosts.d holds hosts-format files and ServiceEntry manifests"));
            return List.of();
        }
        List<Path> sources = new ArrayList<>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.filter(file -> isSource(file.getFileName().toString())).sorted().toList()) {
                // Refused, not skipped: a file the operator meant as a source must not silently do nothing.
                Optional<String> problem = HostsNames.fileNameProblem(file.getFileName().toString());
                if (problem.isPresent()) {
                    problems.add(ConfigProblem.error(new Source.FileLine(directory, 0), null, null, problem.get()));
                } else {
                    sources.add(file);
                }
            }
            return sources;
        } catch (IOException e) {
            problems.add(ConfigProblem.error(new Source.FileLine(directory, 0), null, null,
                    "cannot be listed: " + e.getMessage()));
            return List.of();
        }
    }

    static boolean isSource(String fileName) {
        return !fileName.startsWith(".") && !fileName.endsWith("~") && !fileName.endsWith(".swp")
                && !fileName.matches(".*\\.(dpkg-(old|new|dist|tmp)|rpmsave|rpmnew|bak|orig)$");
    }

    private static void readFile(Path file, boolean manifest, List<HostsEntry> entries, List<ConfigProblem> problems) {
        SourceText.Result result = SourceText.read(file);
        if (result.problem() != null) {
            problems.add(result.problem());
        } else if (manifest) {
            ServiceEntries.parse(result.text(), entries, problems);
        } else {
            HostsFormat.parse(result.text(), entries, problems);
        }
    }
}
