package io.istiovm.agent.assembly;

import io.istiovm.agent.certs.SpiffeId;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigKey;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.FileTrust;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.envoy.EnvoyBootstrap;
import io.istiovm.agent.envoy.EnvoyPlan;
import io.istiovm.agent.envoy.EnvoySettings;
import io.istiovm.agent.envoy.EnvoySupervisor;
import io.istiovm.agent.envoy.HostProcesses;
import io.istiovm.agent.envoy.InvalidBootstrapException;
import io.istiovm.agent.envoy.ProcessUser;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.sds.IdentitySource;
import io.istiovm.agent.sds.SdsServer;
import io.istiovm.agent.sds.SdsSettings;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * SDS and Envoy, wired from the configuration: their settings, their components, and the bootstrap that
 * {@code envoy bootstrap} prints. The host's users and process table come from the runtime's host paths.
 */
public final class EnvoyArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;
    private final IdentitySource identities;
    private final HostProcesses host;
    /** ENVOY_USER from passwd, once resolved; guarded by {@code this}. */
    private ProcessUser envoyUser;

    /** {@code identities}: what SDS serves (the assembly's identity; a test's own holder). */
    public EnvoyArea(AgentConfig config, AgentRuntime runtime, IdentitySource identities) {
        this.config = Objects.requireNonNull(config, "config");
        this.runtime = Objects.requireNonNull(runtime, "runtime");
        this.identities = Objects.requireNonNull(identities, "identities");
        this.host = HostProcesses.on(runtime.paths().proc(), runtime.paths().passwd());
    }

    /** The SDS server, then the Envoy supervisor (Envoy connects to SDS as it starts). */
    public List<Component> components() {
        return List.of(sds(), supervisor());
    }

    public SdsServer sds() {
        return new SdsServer(identities, this::sdsSettings);
    }

    public TrustedSupervisor supervisor() {
        return new TrustedSupervisor(new EnvoySupervisor(this::settings, this::envoyUser, host));
    }

    /**
     * The Envoy component, which also refuses to prepare when a user other than root can change the binary it
     * would start (the file or a directory above it, as {@link FileTrust} assesses): the binary is the one the
     * supervisor chose, so the check covers the packaged fallback too.
     */
    public final class TrustedSupervisor implements Component {
        private final EnvoySupervisor supervisor;

        private TrustedSupervisor(EnvoySupervisor supervisor) {
            this.supervisor = supervisor;
        }

        @Override
        public String name() {
            return supervisor.name();
        }

        @Override
        public EnvoyPlan prepare() throws Exception {
            EnvoyPlan plan = supervisor.prepare();
            requireRootOnly(plan.binary(), ConfigKeys.VM_AGENT_ENVOY_BINARY, "the agent starts this program");
            return plan;
        }
    }

    /** The bootstrap Envoy would be started with, validated against Envoy's schema. */
    public EnvoyBootstrap bootstrap() throws ConfigException, InvalidBootstrapException {
        return EnvoyBootstrap.plan(settings());
    }

    /**
     * The Envoy settings; a value without a default that could not be derived (no host address, no host name)
     * is a configuration error naming the key. (A backoff cap below its start never loads: ConfigLoader refuses it.)
     */
    public EnvoySettings settings() throws ConfigException {
        Optional<Path> override = config.find(ConfigKeys.ISTIO_BOOTSTRAP_OVERRIDE);
        if (override.isPresent()) {
            // Checked before it is read: a file another user controls could be a FIFO, or become Envoy's config.
            requireRootOnly(override.get(), ConfigKeys.ISTIO_BOOTSTRAP_OVERRIDE,
                    "the agent merges this file into Envoy's bootstrap");
        }
        InetAddress ip = config.find(ConfigKeys.ISTIO_SVC_IP).orElseThrow(() -> invalid(ConfigKeys.ISTIO_SVC_IP,
                "not set, and the host has no global address to default to"));
        String pod = config.find(ConfigKeys.POD_NAME).orElseThrow(() -> invalid(ConfigKeys.POD_NAME,
                "not set, and the host name is unknown"));
        // The same namespace and service account the identity is validated against: istiod refuses a node whose
        // namespace is not its certificate's.
        SpiffeId workload = WorkloadNames.expectation(config).enrolmentId();
        return new EnvoySettings(
                config.get(ConfigKeys.VM_AGENT_ENVOY_BINARY),
                config.source(ConfigKeys.VM_AGENT_ENVOY_BINARY),
                config.get(ConfigKeys.ENVOY_USER),
                config.source(ConfigKeys.ENVOY_USER),
                config.get(ConfigKeys.VM_AGENT_ENVOY_ADMIN_PORT),
                config.get(ConfigKeys.ENVOY_PORT),
                config.get(ConfigKeys.INBOUND_CAPTURE_PORT),
                config.get(ConfigKeys.ENVOY_STATUS_PORT),
                config.get(ConfigKeys.ENVOY_PROMETHEUS_PORT),
                config.get(ConfigKeys.VM_AGENT_STATUS_PORT),
                config.get(ConfigKeys.PILOT_ADDRESS),
                config.get(ConfigKeys.ISTIO_CP_AUTH).equals("MUTUAL_TLS"),
                config.get(ConfigKeys.ISTIOD_SAN),
                ip, pod,
                workload.namespace(),
                config.get(ConfigKeys.ISTIO_SERVICE),
                workload.serviceAccount(),
                config.get(ConfigKeys.ISTIO_INBOUND_INTERCEPTION_MODE),
                config.nodeMetadata(),
                config.get(ConfigKeys.VM_AGENT_SDS_SOCKET),
                config.get(ConfigKeys.VM_AGENT_ENVOY_CONFIG_DIR),
                config.get(ConfigKeys.VM_AGENT_ENVOY_SHM_DIR),
                config.find(ConfigKeys.ISTIO_BOOTSTRAP_OVERRIDE),
                config.get(ConfigKeys.VM_AGENT_ENVOY_CONCURRENCY),
                config.get(ConfigKeys.VM_AGENT_ENVOY_LOG_LEVEL),
                config.get(ConfigKeys.VM_AGENT_ENVOY_DRAIN_TIME),
                config.get(ConfigKeys.VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME),
                config.get(ConfigKeys.MINIMUM_DRAIN_DURATION),
                config.get(ConfigKeys.TERMINATION_DRAIN_DURATION),
                config.get(ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF),
                config.get(ConfigKeys.VM_AGENT_ENVOY_RESTART_BACKOFF_MAX),
                config.get(ConfigKeys.VM_AGENT_ENVOY_STABLE_PERIOD),
                config.get(ConfigKeys.VM_AGENT_ENVOY_LIVE_TIMEOUT),
                config.get(ConfigKeys.VM_AGENT_ENVOY_STOP_TIMEOUT),
                config.get(ConfigKeys.VM_AGENT_ENVOY_POLL_INTERVAL),
                config.get(ConfigKeys.VM_AGENT_ENVOY_ADMIN_TCP),
                // TPROXY listeners bind with IP_TRANSPARENT, which needs CAP_NET_ADMIN.
                config.get(ConfigKeys.ISTIO_INBOUND_INTERCEPTION_MODE).equals("TPROXY"));
    }

    /**
     * The SDS socket, connectable by the group of ENVOY_USER and served to its uid (from the host's passwd); the
     * directories of VM_AGENT_SDS_FILE_DIRS, which must be absolute.
     */
    public SdsSettings sdsSettings() throws IOException, ConfigException {
        ProcessUser user = envoyUser();
        java.nio.file.Path socket = config.get(ConfigKeys.VM_AGENT_SDS_SOCKET).toAbsolutePath();
        int socketBytes = socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (socketBytes > SdsSettings.MAX_SOCKET_PATH_BYTES) {
            // The agent binds through a short /proc/self/fd path, but Envoy connects by this one.
            throw invalid(ConfigKeys.VM_AGENT_SDS_SOCKET, socket + " is " + socketBytes + " bytes; a unix socket's "
                    + "path holds at most " + SdsSettings.MAX_SOCKET_PATH_BYTES + ", so Envoy could not connect");
        }
        List<java.nio.file.Path> fileDirectories = new java.util.ArrayList<>();
        for (String directory : config.get(ConfigKeys.VM_AGENT_SDS_FILE_DIRS)) {
            java.nio.file.Path path = java.nio.file.Path.of(directory);
            if (!path.isAbsolute()) {
                throw invalid(ConfigKeys.VM_AGENT_SDS_FILE_DIRS, "'" + directory + "' is not an absolute path");
            }
            fileDirectories.add(path.normalize());
        }
        return new SdsSettings(socket,
                OptionalInt.of(Math.toIntExact(user.gid())), Math.toIntExact(user.uid()), fileDirectories,
                SdsSettings.OS_TRUST_BUNDLES, SdsSettings.FILE_POLL_INTERVAL);
    }

    /**
     * ENVOY_USER from the host's passwd, read once for this configuration: the SDS socket's group and Envoy's uid
     * then come from the same entry, even if passwd changes between the two components' prepares.
     */
    private synchronized ProcessUser envoyUser() throws ConfigException {
        if (envoyUser == null) {
            try {
                envoyUser = ProcessUser.resolve(config.get(ConfigKeys.ENVOY_USER), runtime.paths().accounts());
            } catch (InvalidValueException e) {
                throw new ConfigException(List.of(ConfigProblem.error(config.source(ConfigKeys.ENVOY_USER),
                        ConfigKeys.ENVOY_USER.name(), config.get(ConfigKeys.ENVOY_USER).toString(), e.getMessage())));
            }
        }
        return envoyUser;
    }

    /**
     * Refuses {@code file} (named by {@code key}) when a user other than root can change it or a directory above
     * it: {@code why} says what the agent does with it, and the message gives the commands that fix it.
     */
    private void requireRootOnly(Path file, ConfigKey<?> key, String why) throws ConfigException {
        FileTrust.Verdict verdict;
        try {
            verdict = FileTrust.assess(file);
        } catch (IOException e) {
            throw invalid(key, file, "cannot be inspected: " + e.getMessage());
        }
        if (!verdict.rootOnly()) {
            throw invalid(key, file, why + ", so only root may be able to change it; "
                    + verdict.explain(runtime.paths().accounts()));
        }
    }


    private ConfigException invalid(ConfigKey<?> key, Path value, String reason) {
        return new ConfigException(List.of(ConfigProblem.error(config.source(key), key.name(), value.toString(),
                reason)));
    }

    private ConfigException invalid(ConfigKey<?> key, String reason) {
        return new ConfigException(List.of(ConfigProblem.error(config.source(key), key.name(), null, reason)));
    }
}
