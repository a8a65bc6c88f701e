package io.istiovm.agent.assembly;

import io.istiovm.agent.ca.CaChoice;
import io.istiovm.agent.ca.CaClient;
import io.istiovm.agent.metrics.AgentMetrics;
import io.istiovm.agent.ca.CaEndpoint;
import io.istiovm.agent.ca.CaEndpoints;
import io.istiovm.agent.ca.CaException;
import io.istiovm.agent.ca.IdentityComponent;
import io.istiovm.agent.ca.IdentityFiles;
import io.istiovm.agent.ca.IdentitySettings;
import io.istiovm.agent.ca.Renewal;
import io.istiovm.agent.ca.RotationPolicy;
import io.istiovm.agent.certs.FileOwner;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.KeySpec;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.lifecycle.Component;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The workload identity, wired from the configuration: settings, component, the CLI's one-shot operations. The
 * {@link IdentityState} outlives reloads: it is the assembly's, shared with the SDS server.
 */
public final class IdentityArea {
    private final AgentConfig config;
    private final AgentRuntime runtime;
    private final IdentityState state;
    /** The CA endpoint that last issued: the assembly's, so that it outlives reloads. */
    private final CaChoice caChoice;
    /** Where CA requests are timed: the assembly's one registry. */
    private final AgentMetrics metrics;
    /** {@link #settings()}, computed at its first call: a configuration problem surfaces where it is asked for. */
    private IdentitySettings settings;

    IdentityArea(AgentConfig config, AgentRuntime runtime, IdentityState state, CaChoice caChoice,
                 AgentMetrics metrics) {
        this.config = config;
        this.runtime = runtime;
        this.state = state;
        this.caChoice = caChoice;
        this.metrics = metrics;
    }

    /** What the identity reads from the configuration. */
    public synchronized IdentitySettings settings() {
        if (settings == null) {
            settings = readSettings();
        }
        return settings;
    }

    private IdentitySettings readSettings() {
        IdentityExpectation expectation = WorkloadNames.expectation(config);
        RotationPolicy rotation = new RotationPolicy(config.get(ConfigKeys.SECRET_GRACE_PERIOD_RATIO),
                config.get(ConfigKeys.SECRET_GRACE_PERIOD_RATIO_JITTER),
                config.get(ConfigKeys.VM_AGENT_CERT_MIN_REMAINING), RotationPolicy.INITIAL_BACKOFF,
                config.get(ConfigKeys.VM_AGENT_CA_BACKOFF_MAX));
        KeySpec keySpec = config.get(ConfigKeys.ECC_SIGNATURE_ALGORITHM).equals("RSA")
                ? new KeySpec("RSA", config.get(ConfigKeys.WORKLOAD_RSA_KEY_SIZE)) : KeySpec.ecP256();
        return new IdentitySettings(config.get(ConfigKeys.OUTPUT_CERTS), config.get(ConfigKeys.PROV_CERT),
                expectation, rotation, caEndpoints(), keySpec, config.get(ConfigKeys.PKCS8_KEY),
                config.get(ConfigKeys.SECRET_TTL), config.get(ConfigKeys.VM_AGENT_CERTS_OWNER),
                config.find(ConfigKeys.VM_AGENT_CA_TOKEN_FILE));
    }

    /**
     * istiod's CreateCertificate at CA_ADDR, 1.4 Citadel's HandleCSR at CITADEL_ADDRESS, or (auto) the first, then
     * the second.
     */
    private CaEndpoints caEndpoints() {
        CaEndpoint createCertificate = new CaEndpoint(CaEndpoint.Protocol.CREATE_CERTIFICATE,
                config.get(ConfigKeys.CA_ADDR), config.get(ConfigKeys.ISTIOD_SAN),
                config.get(ConfigKeys.VM_AGENT_CA_TIMEOUT), config.get(ConfigKeys.ISTIO_META_CLUSTER_ID));
        CaEndpoint handleCsr = new CaEndpoint(CaEndpoint.Protocol.HANDLE_CSR, config.get(ConfigKeys.CITADEL_ADDRESS),
                CaEndpoint.CITADEL_SERVER_NAME, config.get(ConfigKeys.VM_AGENT_CA_TIMEOUT),
                config.get(ConfigKeys.ISTIO_META_CLUSTER_ID));
        return switch (config.get(ConfigKeys.VM_AGENT_CA_PROTOCOL)) {
            case "CreateCertificate" -> CaEndpoints.forced(createCertificate);
            case "HandleCSR" -> CaEndpoints.forced(handleCsr);
            default -> CaEndpoints.automatic(createCertificate, handleCsr);
        };
    }

    /**
     * The identity files with their renewal: the CA client, and the files' owner looked up in the host's accounts
     * (the only reading this does).
     */
    public IdentityFiles files() throws IOException {
        IdentitySettings settings = settings();
        FileOwner owner = FileOwner.resolve(settings.certsOwner(), runtime.paths().accounts());
        Renewal renewal = new Renewal(settings, new CaClient(settings.ca(), caChoice, metrics, runtime.clock()), owner, runtime.clock());
        return new IdentityFiles(settings, renewal, runtime.clock());
    }

    /** The identity the agent keeps current; SDS serves it. */
    public IdentityState state() {
        return state;
    }

    public List<Component> components() {
        return List.of(new IdentityComponent(this::files, state, runtime.fileEvents()));
    }

    /** The valid identity on disk ({@code certs show}); throws naming every problem when there is none. */
    public WorkloadIdentity load() throws InvalidIdentityException, IOException {
        return files().load();
    }

    /**
     * Rotates {@code times} times back to back from the identity on disk, or enrols first when there is none
     * (as the daemon decides: {@link IdentityFiles#startingPoint()}); returns the last identity, on disk.
     * ({@code certs rotate}; more than once for soak tests and benchmarks.)
     */
    public WorkloadIdentity rotate(int times) throws InvalidIdentityException, CaException, IOException {
        IdentityFiles files = files();
        Optional<WorkloadIdentity> current = files.startingPoint();
        for (int i = 0; i < Math.max(1, times); i++) {
            current = Optional.of(files.renew(current));
        }
        return current.orElseThrow();
    }
}
