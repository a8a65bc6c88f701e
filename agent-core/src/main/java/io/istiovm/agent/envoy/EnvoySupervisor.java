package io.istiovm.agent.envoy;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.lifecycle.Component;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Predicate;

/**
 * The Envoy component. {@link #prepare()} reads the settings, plans and validates the bootstrap, and resolves the
 * binary, Envoy's user and the agent's own uid from the host's files, so that every reason Envoy could not start
 * stops {@code run} and {@code run --dry-run} alike, before anything changed; the {@link EnvoyPlan} it returns
 * starts the {@link EnvoySupervision}.
 */
public final class EnvoySupervisor implements Component {
    /** Where a distribution package installs Envoy; used when the default binary is missing. */
    static final Path PACKAGED_BINARY = Path.of("/usr/bin/envoy");

    private final Callable<EnvoySettings> settings;
    private final Callable<ProcessUser> user;
    private final HostProcesses host;

    /**
     * {@code settings} is read in {@link #prepare()}, so that a configuration that cannot give them (no host
     * address, say) is a refusal to prepare naming the key; so is {@code user}, ENVOY_USER resolved from the
     * host's passwd (the assembly resolves it once for SDS and Envoy).
     */
    public EnvoySupervisor(Callable<EnvoySettings> settings, Callable<ProcessUser> user, HostProcesses host) {
        this.settings = settings;
        this.user = user;
        this.host = host;
    }

    /** The name the capture component waits on: this component is READY exactly while Envoy's epoch is LIVE. */
    public static final String NAME = "envoy";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public EnvoyPlan prepare() throws Exception {
        EnvoySettings s = settings.call();
        EnvoyBootstrap bootstrap = EnvoyBootstrap.plan(s);
        Path binary = resolveBinary(s, Files::isExecutable);
        ProcessUser user = this.user.call();
        long self = host.currentUid();
        if (self != 0 && self != user.uid()) {
            throw new ConfigException(List.of(ConfigProblem.error(s.userSource(), "ENVOY_USER", s.user().toString(),
                    "the agent runs as uid " + self + " and cannot start Envoy as uid " + user.uid()
                            + "; run the agent as root or as that user")));
        }
        Optional<ProcessUser> runAs = user.uid() == self ? Optional.empty() : Optional.of(user);
        return new EnvoyPlan(s, bootstrap, binary, runAs, host);
    }

    /**
     * The binary to run: the configured one, or, when the default /usr/local/bin/envoy is missing, the
     * /usr/bin/envoy a distribution package would install. Neither is a configuration error naming
     * VM_AGENT_ENVOY_BINARY where it was set.
     */
    static Path resolveBinary(EnvoySettings settings, Predicate<Path> executable) throws ConfigException {
        if (executable.test(settings.binary())) {
            return settings.binary();
        }
        if (settings.binaryIsDefault() && executable.test(PACKAGED_BINARY)) {
            return PACKAGED_BINARY;
        }
        throw new ConfigException(List.of(ConfigProblem.error(settings.binarySource(), "VM_AGENT_ENVOY_BINARY",
                settings.binary().toString(), "Envoy binary not found or not executable"
                        + (settings.binaryIsDefault() ? " (nor " + PACKAGED_BINARY + ")" : ""))));
    }
}
