package io.istiovm.agent.config;

import static io.istiovm.agent.config.ConfigKeys.ENVOY_PORT;
import static io.istiovm.agent.config.ConfigKeys.ENVOY_PROMETHEUS_PORT;
import static io.istiovm.agent.config.ConfigKeys.ENVOY_STATUS_PORT;
import static io.istiovm.agent.config.ConfigKeys.INBOUND_CAPTURE_PORT;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_CP_AUTH;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_INBOUND_PORTS;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_NAMESPACE;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_PILOT_PORT;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_SERVICE_CIDR;
import static io.istiovm.agent.config.ConfigKeys.ISTIO_SERVICE_EXCLUDE_CIDR;
import static io.istiovm.agent.config.ConfigKeys.POD_NAMESPACE;
import static io.istiovm.agent.config.ConfigKeys.SECRET_GRACE_PERIOD_RATIO;
import static io.istiovm.agent.config.ConfigKeys.SECRET_GRACE_PERIOD_RATIO_JITTER;
import static io.istiovm.agent.config.ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF;
import static io.istiovm.agent.config.ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF_MAX;
import static io.istiovm.agent.config.ConfigKeys.VM_AGENT_STATUS_PORT;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * Reads sidecar.env, then cluster.env, then the process environment (later sources win), validates every
 * value against the registry, and returns one {@link AgentConfig}, or every problem at once. Each file is first
 * assessed ({@link FileTrust}): one only root can change is trusted; one that Envoy's user can also change may set
 * only the keys that cannot raise privileges ({@link ConfigKey#raisesPrivileges()}); any other is refused unread.
 */
public final class ConfigLoader {
    /** The proxy's admin port; capturing it would loop Envoy's own traffic. */
    private static final int ENVOY_ADMIN_PORT = 15000;

    private final HostFacts host;
    private final ConfigFileReader reader;
    private final FileTrust.Inspector inspector;
    private final Accounts accounts;

    /** On the running host: plain reads, the host's lstat, the users and groups of {@code host} (tools, tests). */
    public ConfigLoader(HostFacts host) {
        this(host, ConfigFileReader.PLAIN, FileTrust.Inspector.SYSTEM, host.accounts());
    }

    /**
     * @param reader    how the files are read (the command line's is bounded and never blocks)
     * @param inspector how the owners and modes of the files and the directories above them are learnt
     * @param accounts  the host's users and groups, to resolve ENVOY_USER and to name owners in messages
     */
    public ConfigLoader(HostFacts host, ConfigFileReader reader, FileTrust.Inspector inspector, Accounts accounts) {
        this.host = Objects.requireNonNull(host);
        this.reader = Objects.requireNonNull(reader);
        this.inspector = Objects.requireNonNull(inspector);
        this.accounts = Objects.requireNonNull(accounts);
    }

    /** A loaded configuration and the warnings found on the way. */
    public record Result(AgentConfig config, List<ConfigProblem> warnings) {
    }

    /**
     * One file as read: its lines, and who other than root can change it. {@code otherWriter} is the one non-root
     * uid that can (the owner of the file or of a directory above it), or empty when only root can.
     */
    private record Input(EnvFile file, OptionalLong otherWriter, FileTrust.Verdict verdict) {
        static Input trusted(EnvFile file) {
            return new Input(file, OptionalLong.empty(), null);
        }
    }

    private record Setting(String raw, Source source, Source overrides) {
    }

    /**
     * @param files       where the two files are
     * @param environment the process environment (only known keys are taken from it)
     * @param filesFromFlag true when {@code --config-dir} chose the files, so {@code check} can say so
     */
    public Result load(ConfigFiles files, Map<String, String> environment, boolean filesFromFlag)
            throws ConfigException {
        return resolve(files, input(files.sidecarEnv()), input(files.clusterEnv()), environment, filesFromFlag);
    }

    /**
     * Loads {@code clusterEnv} as if it were the content of {@code files.clusterEnv()}, with no sidecar.env and no
     * process environment, reading no file: for tests that need a configuration, and tools that hold one.
     */
    public Result loadInMemory(ConfigFiles files, String clusterEnv) throws ConfigException {
        return resolve(files, Input.trusted(EnvFile.absent(files.sidecarEnv())),
                Input.trusted(EnvFile.parse(files.clusterEnv(),
                        clusterEnv.getBytes(java.nio.charset.StandardCharsets.UTF_8))), Map.of(), true);
    }

    /**
     * Reads one file after asking who can change it (sshd's StrictModes): a file that only root controls is read
     * through its links; one that exactly one other user controls is read without following a final link, and may
     * then set only keys that cannot raise privileges (see {@link #resolve}); anything more open is refused unread.
     */
    private Input input(Path path) {
        FileTrust.Verdict verdict;
        Path readAt = path;
        try {
            Optional<FileTrust.Status> leaf = inspector.lstat(path.toAbsolutePath());
            if (leaf.isEmpty()) {
                return Input.trusted(EnvFile.absent(path));
            }
            verdict = FileTrust.assess(path, inspector);
            if (leaf.get().isLink()) {
                if (!verdict.rootOnly()) {
                    return new Input(EnvFile.refused(path, "is a symbolic link in a directory that a user other "
                            + "than root can write, and is not followed there: " + verdict.explain(accounts)),
                            OptionalLong.empty(), verdict);
                }
                try {
                    readAt = path.toRealPath();
                } catch (java.nio.file.NoSuchFileException e) {
                    return Input.trusted(EnvFile.refused(path, "is a symbolic link to a file that does not exist"));
                }
            }
        } catch (IOException e) {
            return Input.trusted(EnvFile.refused(path, "cannot be inspected: " + e.getMessage()));
        }
        OptionalLong writer = verdict.soleOtherWriter();
        if (!verdict.rootOnly() && writer.isEmpty()) {
            return new Input(EnvFile.refused(path, "can be changed by users other than root: "
                    + verdict.explain(accounts)), OptionalLong.empty(), verdict);
        }
        List<ConfigFileReader.Content> opened = new ArrayList<>();
        EnvFile file = EnvFile.read(path, readAt, reader, opened::add);
        for (ConfigFileReader.Content content : opened) {
            // The inode actually read, which its owner may have changed since it was assessed.
            boolean ownerKnown = content.uid() == 0 || (writer.isPresent() && content.uid() == writer.getAsLong());
            if (!ownerKnown || (content.mode() & 0022) != 0) {
                return new Input(EnvFile.refused(path, "changed while it was read: now owned by "
                        + accounts.describeUid(content.uid()) + ", mode " + String.format("%04o", content.mode())
                        + "; make it root's (fix: chown root " + path + " && chmod go-w " + path + ")"),
                        OptionalLong.empty(), verdict);
            }
        }
        return new Input(file, writer, verdict);
    }

    private Result resolve(ConfigFiles files, Input sidecarInput, Input clusterInput, Map<String, String> environment,
                           boolean filesFromFlag) throws ConfigException {
        List<ConfigProblem> problems = new ArrayList<>();
        Map<String, Setting> settings = new LinkedHashMap<>();
        EnvFile cluster = clusterInput.file();

        if (!cluster.exists()) {
            problems.add(ConfigProblem.error(new Source.FileLine(files.clusterEnv(), 0), null, null,
                    "not found; cluster.env is required (set ISTIO_CLUSTER_CONFIG or --config-dir to read another)"));
        }
        for (Input input : List.of(sidecarInput, clusterInput)) {
            EnvFile file = input.file();
            problems.addAll(file.problems());
            for (EnvFile.Assignment assignment : file.assignments()) {
                String name = assignment.key();
                Optional<ConfigKey<?>> key = ConfigKeys.byName(name);
                if (key.isEmpty() && !ConfigKeys.isMetadataFamily(name)) {
                    problems.add(ConfigProblem.warning(assignment.source(), name, null, KeySuggestions.suggest(name)
                            .map(s -> "unknown key, ignored; did you mean " + s + "?")
                            .orElse("unknown key, ignored")));
                    continue;
                }
                if (key.isPresent() && key.get().isEnvironmentOnly()) {
                    problems.add(ConfigProblem.warning(assignment.source(), name, null,
                            "is read only from the process environment; ignored in a file"));
                    continue;
                }
                if (key.isPresent() && key.get().raisesPrivileges() && input.otherWriter().isPresent()) {
                    problems.add(ConfigProblem.error(assignment.source(), name, assignment.value(),
                            key.get().privilege() + ", so only a file that root alone can change may set it; "
                                    + input.verdict().explain(accounts)
                                    + ", or set it in the agent's environment (/etc/default/istio-vm-agent for the packaged unit)"));
                    continue;
                }
                Setting earlier = settings.get(name);
                settings.put(name, new Setting(assignment.value(), assignment.source(),
                        earlier == null ? null : earlier.source()));
            }
        }
        environment.forEach((name, raw) -> {
            Optional<ConfigKey<?>> key = ConfigKeys.byName(name);
            if ((key.isPresent() && !key.get().isEnvironmentOnly()) || ConfigKeys.isMetadataFamily(name)) {
                int control = VisibleText.firstControl(raw);
                if (control >= 0) {
                    problems.add(ConfigProblem.error(Source.ENVIRONMENT, name, raw, VisibleText.describe(
                            raw.charAt(control)) + " at position " + (control + 1) + " is not allowed"));
                    return;
                }
                Setting earlier = settings.get(name);
                settings.put(name, new Setting(raw, Source.ENVIRONMENT, earlier == null ? null : earlier.source()));
            }
        });
        Source locationSource = filesFromFlag ? new Source.Flag("--config-dir") : null;
        settings.put(ConfigKeys.ISTIO_SIDECAR_CONFIG.name(), locationSetting(ConfigKeys.ISTIO_SIDECAR_CONFIG,
                files.sidecarEnv().toString(), environment, locationSource));
        settings.put(ConfigKeys.ISTIO_CLUSTER_CONFIG.name(), locationSetting(ConfigKeys.ISTIO_CLUSTER_CONFIG,
                files.clusterEnv().toString(), environment, locationSource));

        Map<String, AgentConfig.Entry> entries = new LinkedHashMap<>();
        Map<String, String> chosenRaw = new LinkedHashMap<>();
        ConfigKey.DefaultContext context = new ConfigKey.DefaultContext() {
            @Override
            public String raw(ConfigKey<?> key) {
                return chosenRaw.getOrDefault(key.name(), "");
            }

            @Override
            public HostFacts host() {
                return host;
            }
        };
        for (ConfigKey<?> key : ConfigKeys.all()) {
            Setting setting = settings.get(key.name());
            if (setting == null) {
                String raw = defaultRaw(key.defaultValue(), context);
                boolean derivedEmpty = raw != null && raw.isEmpty()
                        && key.defaultValue() instanceof ConfigKey.Default.Derived;
                setting = new Setting(derivedEmpty ? null : raw, Source.DEFAULT, null);
            }
            chosenRaw.put(key.name(), setting.raw() == null ? "" : setting.raw());
            entries.put(key.name(), resolve(key.name(), key, key.type(), setting, problems));
        }
        Map<String, AgentConfig.Entry> family = new TreeMap<>();
        settings.forEach((name, setting) -> {
            if (ConfigKeys.byName(name).isEmpty() && ConfigKeys.isMetadataFamily(name)) {
                ValueType<?> type = name.startsWith(ConfigKeys.META_JSON_PREFIX)
                        ? ConfigKeys.META_JSON_TYPE : ConfigKeys.META_TYPE;
                family.put(name, resolve(name, null, type, setting, problems));
            }
        });
        entries.putAll(family);

        AgentConfig config = new AgentConfig(files, entries);
        crossCheck(config, entries, problems);
        checkEnvoyUser(config, entries, List.of(sidecarInput, clusterInput), problems);

        List<ConfigProblem> ordered = new ArrayList<>(problems);
        ordered.sort(Comparator.comparingInt((ConfigProblem p) -> sourceRank(p.source(), files))
                .thenComparingInt(p -> p.source() instanceof Source.FileLine line ? line.line() : 0));
        if (ordered.stream().anyMatch(ConfigProblem::isError)) {
            throw new ConfigException(ordered, !cluster.exists());
        }
        return new Result(config, ordered);
    }

    private static String defaultRaw(ConfigKey.Default value, ConfigKey.DefaultContext context) {
        if (value instanceof ConfigKey.Default.Literal literal) {
            return literal.value();
        }
        if (value instanceof ConfigKey.Default.Derived derived) {
            return derived.compute().apply(context);
        }
        return null;
    }

    private static Setting locationSetting(ConfigKey<?> key, String path, Map<String, String> environment,
                                           Source flag) {
        if (flag != null) {
            return new Setting(path, flag, null);
        }
        String fromEnv = environment.get(key.name());
        return new Setting(path, fromEnv == null || fromEnv.isEmpty() ? Source.DEFAULT : Source.ENVIRONMENT, null);
    }

    private static <T> AgentConfig.Entry resolve(String name, ConfigKey<?> key, ValueType<T> type, Setting setting,
                                                 List<ConfigProblem> problems) {
        if (setting.raw() == null) {
            return new AgentConfig.Entry(name, key, null, null, "", setting.source(), setting.overrides());
        }
        try {
            T value = type.parse(setting.raw());
            return new AgentConfig.Entry(name, key, setting.raw(), value, type.format(value), setting.source(),
                    setting.overrides());
        } catch (InvalidValueException e) {
            if (setting.source() instanceof Source.Default && key != null
                    && key.defaultValue() instanceof ConfigKey.Default.Derived
                    && problems.stream().anyMatch(ConfigProblem::isError)) {
                // A derived default only fails when a key it is built from is invalid, which is already reported.
                return new AgentConfig.Entry(name, key, setting.raw(), null, "", setting.source(), null);
            }
            String reason = e.getMessage();
            if (setting.raw().isEmpty() && key != null) {
                reason = key.defaultValue() instanceof ConfigKey.Default.None
                        ? "is empty; set a value or remove the line"
                        : "is empty; remove the line to use the default (" + key.defaultValue().describe() + ")";
            }
            problems.add(ConfigProblem.error(setting.source(), name, setting.raw(), reason));
            return new AgentConfig.Entry(name, key, setting.raw(), null, "", setting.source(), setting.overrides());
        }
    }

    /**
     * ENVOY_USER must name an unprivileged account (never uid 0; the 1337 fallback only when that id is nobody
     * else's), and a configuration file another user can change is accepted only when that user is Envoy's: the
     * guide hands /var/lib/istio/envoy to istio-proxy, who may then set the keys that cannot raise privileges.
     */
    private void checkEnvoyUser(AgentConfig config, Map<String, AgentConfig.Entry> entries, List<Input> inputs,
                                List<ConfigProblem> problems) {
        Optional<UserRef> user = config.find(ConfigKeys.ENVOY_USER);
        if (user.isEmpty()) {
            return;
        }
        Accounts.Account envoy;
        try {
            envoy = accounts.envoyUser(user.get());
        } catch (InvalidValueException e) {
            problems.add(problem(entries, ConfigKeys.ENVOY_USER, Severity.ERROR, e.getMessage()));
            return;
        }
        for (Input input : inputs) {
            if (input.otherWriter().isPresent() && input.otherWriter().getAsLong() != envoy.uid()) {
                problems.add(ConfigProblem.error(new Source.FileLine(input.file().path(), 0), null, null,
                        "can be changed by " + accounts.describeUid(input.otherWriter().getAsLong()) + ", who is "
                                + "neither root nor Envoy's user (ENVOY_USER=" + user.get() + ", uid " + envoy.uid()
                                + "): " + input.verdict().explain(accounts)));
            }
        }
    }

    /** Rules that involve more than one key; each runs only when its keys parsed. */
    private static void crossCheck(AgentConfig config, Map<String, AgentConfig.Entry> entries,
                                   List<ConfigProblem> problems) {
        Optional<Integer> outbound = config.find(ENVOY_PORT);
        Optional<Integer> inbound = config.find(INBOUND_CAPTURE_PORT);
        if (outbound.isPresent() && outbound.equals(inbound)) {
            problems.add(blame(entries, INBOUND_CAPTURE_PORT, ENVOY_PORT, Severity.ERROR,
                    "equals ENVOY_PORT; the inbound and outbound capture listeners need different ports"));
        }

        config.find(ISTIO_INBOUND_PORTS).ifPresent(ports -> {
            Map<Integer, String> own = new LinkedHashMap<>();
            config.find(ENVOY_PORT).ifPresent(p -> own.put(p, "ENVOY_PORT"));
            config.find(INBOUND_CAPTURE_PORT).ifPresent(p -> own.put(p, "INBOUND_CAPTURE_PORT"));
            config.find(ENVOY_STATUS_PORT).ifPresent(p -> own.put(p, "ENVOY_STATUS_PORT"));
            config.find(ENVOY_PROMETHEUS_PORT).ifPresent(p -> own.put(p, "ENVOY_PROMETHEUS_PORT"));
            config.find(VM_AGENT_STATUS_PORT).ifPresent(p -> own.put(p, "VM_AGENT_STATUS_PORT"));
            own.putIfAbsent(ENVOY_ADMIN_PORT, "Envoy's admin port");
            for (int port : ports.ports()) {
                String owner = own.get(port);
                if (owner != null) {
                    problems.add(problem(entries, ISTIO_INBOUND_PORTS, Severity.ERROR, "port " + port + " is "
                            + owner + " (the proxy's own port); capturing it would loop traffic into Envoy"));
                }
            }
        });

        Optional<CidrList> included = config.find(ISTIO_SERVICE_CIDR);
        Optional<CidrList> excludedCidrs = config.find(ISTIO_SERVICE_EXCLUDE_CIDR);
        if (included.isPresent() && included.get().isEmpty() && excludedCidrs.isPresent()
                && !excludedCidrs.get().isEmpty()) {
            problems.add(problem(entries, ISTIO_SERVICE_EXCLUDE_CIDR, Severity.WARNING,
                    "has no effect while ISTIO_SERVICE_CIDR is empty (no outbound capture)"));
        }

        captureCrossCheck(config, entries, problems);

        Optional<String> podNamespace = config.find(POD_NAMESPACE);
        Optional<String> namespace = config.find(ISTIO_NAMESPACE);
        if (podNamespace.isPresent() && namespace.isPresent() && !podNamespace.equals(namespace)) {
            problems.add(blame(entries, POD_NAMESPACE, ISTIO_NAMESPACE, Severity.ERROR,
                    "disagrees with ISTIO_NAMESPACE='" + namespace.get() + "'; they name the same namespace"));
        }

        Optional<Double> ratio = config.find(SECRET_GRACE_PERIOD_RATIO);
        Optional<Double> jitter = config.find(SECRET_GRACE_PERIOD_RATIO_JITTER);
        if (ratio.isPresent() && jitter.isPresent() && ratio.get() + jitter.get() >= 1.0) {
            problems.add(blame(entries, SECRET_GRACE_PERIOD_RATIO_JITTER, SECRET_GRACE_PERIOD_RATIO, Severity.ERROR,
                    "plus SECRET_GRACE_PERIOD_RATIO reaches 1: certificates would be renewed as soon as issued"));
        }

        Optional<Duration> restartBackoff = config.find(VM_AGENT_ENVOY_RESTART_BACKOFF);
        Optional<Duration> restartBackoffMax = config.find(VM_AGENT_ENVOY_RESTART_BACKOFF_MAX);
        if (restartBackoff.isPresent() && restartBackoffMax.isPresent()
                && restartBackoffMax.get().compareTo(restartBackoff.get()) < 0) {
            problems.add(blame(entries, VM_AGENT_ENVOY_RESTART_BACKOFF_MAX, VM_AGENT_ENVOY_RESTART_BACKOFF,
                    Severity.ERROR, "is shorter than VM_AGENT_ENVOY_RESTART_BACKOFF, the first delay it caps",
                    "is longer than VM_AGENT_ENVOY_RESTART_BACKOFF_MAX, the cap of the crash-restart delay"));
        }

        if ("NONE".equals(config.find(ISTIO_CP_AUTH).orElse(null))
                && config.find(ISTIO_PILOT_PORT).orElse(0) == 15012) {
            problems.add(problem(entries, ISTIO_CP_AUTH, Severity.WARNING,
                    "NONE with ISTIO_PILOT_PORT=15012: istiod serves only mTLS there (plaintext is 15010)"));
        }
    }

    /**
     * The capture keys' rules beyond one value: settings that would silently do nothing (an empty ISTIO_SERVICE_CIDR
     * from the guide's unset shell variable, a key accepted for compatibility) are warnings, so that {@code check},
     * {@code run --dry-run} and the start (all print the loader's warnings) say so; Istio 1.8's KubeVirt interfaces
     * are refused.
     */
    private static void captureCrossCheck(AgentConfig config, Map<String, AgentConfig.Entry> entries,
                                          List<ConfigProblem> problems) {
        boolean operatorManaged = config.find(ConfigKeys.ISTIO_CUSTOM_IP_TABLES).orElse(false);
        AgentConfig.Entry serviceCidr = entries.get(ISTIO_SERVICE_CIDR.name());
        if (!operatorManaged && serviceCidr != null && !(serviceCidr.source() instanceof Source.Default)
                && config.find(ISTIO_SERVICE_CIDR).map(CidrList::isEmpty).orElse(false)) {
            problems.add(problem(entries, ISTIO_SERVICE_CIDR, Severity.WARNING, "is empty: no outbound traffic "
                    + "is captured except to the hosts block's VIPs; most likely cluster.env was written as the VM "
                    + "guide says (ISTIO_SERVICE_CIDR=$ISTIO_SERVICE_CIDR) and the guide never sets "
                    + "$ISTIO_SERVICE_CIDR; set it to the cluster's service range, or '*'"));
        }
        if (!config.find(ConfigKeys.KUBE_VIRT_INTERFACES).map(List::isEmpty).orElse(true)) {
            problems.add(problem(entries, ConfigKeys.KUBE_VIRT_INTERFACES, Severity.ERROR, "is not supported: "
                    + "Istio 1.8 sends a KubeVirt guest's traffic from these interfaces to Envoy as outbound, and a "
                    + "VM has no such guest; to keep an interface's traffic out of capture use "
                    + "ISTIO_EXCLUDE_INTERFACES"));
        }
        for (AgentConfig.Entry entry : entries.values()) {
            ConfigKey<?> key = entry.key();
            if (key == null || !key.isCompatOnly() || entry.source() instanceof Source.Default || !entry.isSet()) {
                continue;
            }
            boolean isDefault = key.defaultValue() instanceof ConfigKey.Default.Literal literal
                    && literal.value().equals(entry.formatted());
            if (!isDefault) {
                problems.add(new ConfigProblem(Severity.WARNING, entry.source(), key.name(), entry.raw(),
                        "is accepted but has no effect in this agent: " + key.compatNote()));
            }
        }
    }

    /** A problem about {@code key}, located where the key was set. */
    private static ConfigProblem problem(Map<String, AgentConfig.Entry> entries, ConfigKey<?> key, Severity severity,
                                         String reason) {
        AgentConfig.Entry entry = entries.get(key.name());
        return new ConfigProblem(severity, entry.source(), key.name(), entry.raw(), reason);
    }

    /**
     * A problem between two keys, reported on whichever the operator set last (the other one may be a default
     * they never wrote).
     */
    private static ConfigProblem blame(Map<String, AgentConfig.Entry> entries, ConfigKey<?> first,
                                       ConfigKey<?> second, Severity severity, String reason) {
        return blame(entries, first, second, severity, reason, reason.replace(second.name(), first.name()));
    }

    /** As {@link #blame(Map, ConfigKey, ConfigKey, Severity, String)}, for a rule that reads differently per key. */
    private static ConfigProblem blame(Map<String, AgentConfig.Entry> entries, ConfigKey<?> first,
                                       ConfigKey<?> second, Severity severity, String reason,
                                       String reasonOnSecond) {
        AgentConfig.Entry a = entries.get(first.name());
        AgentConfig.Entry b = entries.get(second.name());
        if (a.source() instanceof Source.Default && !(b.source() instanceof Source.Default)) {
            return new ConfigProblem(severity, b.source(), second.name(), b.raw(), reasonOnSecond);
        }
        return new ConfigProblem(severity, a.source(), first.name(), a.raw(), reason);
    }

    private static int sourceRank(Source source, ConfigFiles files) {
        if (source instanceof Source.FileLine line) {
            return line.file().equals(files.sidecarEnv()) ? 0 : 1;
        }
        return source instanceof Source.Environment ? 2 : 3;
    }
}
