package io.istiovm.agent.ca;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import java.io.IOException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The identity as configured: where it is read from (OUTPUT_CERTS, then PROV_CERT), what it must be, and the
 * {@link Renewal} that replaces it. The daemon component and the {@code certs} commands both go through here, so
 * that they decide the same way, in particular what to start from ({@link #startingPoint()}).
 */
public final class IdentityFiles {
    private static final Logger LOG = LoggerFactory.getLogger(IdentityFiles.class);

    private final IdentitySettings settings;
    private final Renewal renewal;
    private final Clock clock;
    private final CertsDirectory output;
    private final List<CertsDirectory> directories;

    public IdentityFiles(IdentitySettings settings, Renewal renewal, Clock clock) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.renewal = Objects.requireNonNull(renewal, "renewal");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.directories = settings.directories().stream().map(CertsDirectory::new).toList();
        this.output = directories.get(0);
    }

    public IdentitySettings settings() {
        return settings;
    }

    public CertsDirectory output() {
        return output;
    }

    /** The directories to look in, in order, without repeats. */
    public List<CertsDirectory> directories() {
        return directories;
    }

    /**
     * The first valid identity of OUTPUT_CERTS, PROV_CERT; throws with every directory's problems when there is
     * none.
     */
    public WorkloadIdentity load() throws InvalidIdentityException, IOException {
        List<String> problems = new ArrayList<>();
        for (CertsDirectory dir : directories) {
            if (dir != output && dir.isEmpty()) {
                continue;
            }
            try {
                return dir.load(settings.expectation(), clock.instant());
            } catch (InvalidIdentityException e) {
                problems.addAll(e.problems());
            }
        }
        throw new InvalidIdentityException(problems);
    }

    /**
     * "Load the identity, else enrol": the valid identity on disk, or empty when there is none and the agent is to
     * enrol with its token. Without either the agent cannot get an identity, so this throws, saying what the
     * operator must do.
     */
    public Optional<WorkloadIdentity> startingPoint() throws InvalidIdentityException, IOException {
        try {
            return Optional.of(load());
        } catch (InvalidIdentityException e) {
            if (settings.tokenFile().isEmpty()) {
                List<String> problems = new ArrayList<>(e.problems());
                problems.add("no valid workload identity and VM_AGENT_CA_TOKEN_FILE is not set: place a valid "
                        + "root-cert.pem, cert-chain.pem and key.pem (from `istioctl x workload entry configure`) in "
                        + "OUTPUT_CERTS/PROV_CERT, or set VM_AGENT_CA_TOKEN_FILE to a bearer token to enrol");
                throw new InvalidIdentityException(problems);
            }
            LOG.warn("no valid identity ({}); enrolling with the token in {}", e.getMessage(),
                    settings.tokenFile().get());
            return Optional.empty();
        }
    }

    /** The trust roots to verify the CA with when there is no valid identity to take them from. */
    public List<X509Certificate> roots() throws InvalidIdentityException, IOException {
        for (CertsDirectory dir : directories) {
            Optional<List<X509Certificate>> roots = dir.roots();
            if (roots.isPresent()) {
                return roots.get();
            }
        }
        throw new InvalidIdentityException(output.root() + ": missing; the CA cannot be verified without the mesh's "
                + "root certificate (copy root-cert.pem from `istioctl x workload entry configure`)");
    }

    /** The CA endpoint that last issued a certificate; empty before the first renewal. */
    public Optional<CaEndpoint> caChosen() {
        return renewal.caChosen();
    }

    /** One renewal of {@code current} (or enrolment when empty); the new identity is on disk when this returns. */
    public WorkloadIdentity renew(Optional<WorkloadIdentity> current)
            throws CaException, InvalidIdentityException, IOException {
        List<X509Certificate> roots = current.isPresent() ? current.get().roots() : roots();
        return renewal.renew(current, roots);
    }
}
