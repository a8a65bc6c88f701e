package io.istiovm.agent.ca;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.FileOwner;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.KeySpec;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The identity as configured: where it is read from (OUTPUT_CERTS, which holds the rotated identity, then
 * PROV_CERT, the provisioned one), what it must be, and how it is renewed. Shared by the daemon component and
 * the {@code certs} commands so that both decide the same way.
 */
public final class IdentityFiles {
    private final Clock clock;
    private final CertsDirectory output;
    private final CertsDirectory provisioning;
    private final IdentityExpectation expectation;
    private final RotationPolicy policy;
    private final Renewal renewal;
    private final Optional<Path> tokenFile;

    public IdentityFiles(AgentConfig config, Clock clock) throws IOException {
        this.clock = clock;
        this.output = new CertsDirectory(config.get(ConfigKeys.OUTPUT_CERTS));
        this.provisioning = new CertsDirectory(config.get(ConfigKeys.PROV_CERT));
        this.expectation = IdentityExpectation.fromConfig(config);
        this.policy = RotationPolicy.fromConfig(config);
        this.tokenFile = config.find(ConfigKeys.VM_AGENT_CA_TOKEN_FILE);
        this.renewal = new Renewal(clock, new CaClient(CaEndpoint.fromConfig(config)), KeySpec.fromConfig(config),
                config.get(ConfigKeys.PKCS8_KEY), config.get(ConfigKeys.SECRET_TTL), output,
                FileOwner.resolve(config.get(ConfigKeys.VM_AGENT_CERTS_OWNER), Path.of("/etc/passwd")),
                expectation, tokenFile);
    }

    public CertsDirectory output() {
        return output;
    }

    public RotationPolicy policy() {
        return policy;
    }

    public Renewal renewal() {
        return renewal;
    }

    public Optional<Path> tokenFile() {
        return tokenFile;
    }

    /** The directories to look in, in order, without repeats. */
    public List<CertsDirectory> directories() {
        List<CertsDirectory> dirs = new ArrayList<>(List.of(output));
        if (!provisioning.dir().equals(output.dir())) {
            dirs.add(provisioning);
        }
        return dirs;
    }

    /**
     * The first valid identity of OUTPUT_CERTS, PROV_CERT; throws with every directory's problems when there is
     * none.
     */
    public WorkloadIdentity load() throws InvalidIdentityException, IOException {
        List<String> problems = new ArrayList<>();
        for (CertsDirectory dir : directories()) {
            if (dir != output && dir.isEmpty()) {
                continue;
            }
            try {
                return dir.load(expectation, clock.instant());
            } catch (InvalidIdentityException e) {
                problems.addAll(e.problems());
            }
        }
        throw new InvalidIdentityException(problems);
    }

    /** The trust roots to verify the CA with when there is no valid identity to take them from. */
    public List<X509Certificate> roots() throws InvalidIdentityException, IOException {
        for (CertsDirectory dir : directories()) {
            try {
                return Pem.certificates(dir.root().toString(), Files.readAllBytes(dir.root()));
            } catch (NoSuchFileException e) {
                // try the next directory
            }
        }
        throw new InvalidIdentityException(output.root() + ": missing; the CA cannot be verified without the mesh's "
                + "root certificate (copy root-cert.pem from `istioctl x workload entry configure`)");
    }

    /** One renewal of {@code current} (or enrolment when empty). */
    public WorkloadIdentity renew(Optional<WorkloadIdentity> current) throws Exception {
        List<X509Certificate> roots = current.isPresent() ? current.get().roots() : roots();
        return renewal.renew(current, roots);
    }
}
