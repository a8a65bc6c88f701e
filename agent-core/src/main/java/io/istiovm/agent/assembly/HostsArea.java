package io.istiovm.agent.assembly;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.FileTrust;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.hosts.HostsComponent;
import io.istiovm.agent.hosts.HostsFileWriter;
import io.istiovm.agent.hosts.HostsPlan;
import io.istiovm.agent.hosts.HostsPlanner;
import io.istiovm.agent.hosts.HostsSettings;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.Prepared;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The hosts block, wired from the configuration: its settings, its component, and the CLI's one-shot operations,
 * which write through the same {@link HostsFileWriter} retry as the running component.
 */
public final class HostsArea {
    private final HostsSettings settings;
    private final AgentRuntime runtime;

    HostsArea(AgentConfig config, AgentRuntime runtime) {
        this.settings = settings(config);
        this.runtime = runtime;
    }

    private static HostsSettings settings(AgentConfig config) {
        List<String> names = new ArrayList<>(HostsSettings.controlPlaneNames(
                config.get(ConfigKeys.ISTIO_SYSTEM_NAMESPACE)));
        names.addAll(config.get(ConfigKeys.VM_AGENT_GATEWAY_NAMES));
        return new HostsSettings(config.files().directory(), config.find(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS),
                config.source(ConfigKeys.VM_AGENT_GATEWAY_ADDRESS), names, config.get(ConfigKeys.VM_AGENT_HOSTS_FILE),
                config.get(ConfigKeys.VM_AGENT_HOSTS_VERIFY_INTERVAL));
    }

    public HostsSettings settings() {
        return settings;
    }

    public List<Component> components() {
        HostsComponent hosts = new HostsComponent(settings, runtime.fileEvents());
        return List.of(new Component() {
            @Override
            public String name() {
                return hosts.name();
            }

            @Override
            public Prepared prepare() throws Exception {
                requireRootOnlySources();
                return hosts.prepare();
            }
        });
    }

    /** What the block should be and how the file differs ({@code hosts plan}); changes nothing. */
    public HostsPlan plan() throws ConfigException, IOException {
        requireRootOnlySources();
        return HostsPlanner.apply(settings);
    }

    /** Writes the block once ({@code hosts apply}), first finishing a rewrite a killed writer left. */
    public HostsFileWriter.Written applyOnce() throws ConfigException, IOException {
        requireRootOnlySources();
        HostsFileWriter writer = new HostsFileWriter();
        writer.recover(settings.target());
        return writer.apply(settings);
    }

    /**
     * Refuses the hosts sources (the {@code hosts} file, {@code hosts.d/} and every entry in it) when a user other
     * than root can change one of them or a directory above it: their names go into /etc/hosts, through which every
     * user of the host resolves names. Sources that do not exist are not assessed.
     */
    private void requireRootOnlySources() throws ConfigException, IOException {
        List<Path> sources = new ArrayList<>();
        for (Path source : List.of(settings.hostsFile(), settings.dropInDirectory())) {
            if (Files.exists(source, LinkOption.NOFOLLOW_LINKS)) {
                sources.add(source);
            }
        }
        if (Files.isDirectory(settings.dropInDirectory(), LinkOption.NOFOLLOW_LINKS)) {
            try (Stream<Path> entries = Files.list(settings.dropInDirectory())) {
                entries.sorted().forEach(sources::add);
            }
        }
        List<ConfigProblem> problems = new ArrayList<>();
        for (Path source : sources) {
            FileTrust.Verdict verdict = FileTrust.assess(source);
            if (!verdict.rootOnly()) {
                problems.add(ConfigProblem.error(new Source.FileLine(source, 0), null, null, "is a hosts source, "
                        + "whose names go into " + settings.target() + " for every user of the host, so only root "
                        + "may be able to change it; " + verdict.explain(runtime.paths().accounts())));
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    /** Removes the block ({@code hosts clean}), first finishing a rewrite a killed writer left. */
    public HostsFileWriter.Written clean() throws ConfigException, IOException {
        HostsFileWriter writer = new HostsFileWriter();
        writer.recover(settings.target());
        return writer.clean(settings.target());
    }
}
