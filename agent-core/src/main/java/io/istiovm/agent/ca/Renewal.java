package io.istiovm.agent.ca;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.Csr;
import io.istiovm.agent.certs.FileOwner;
import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.IdentityValidator;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.KeySpec;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.certs.SpiffeId;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.fs.HeldDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One rotation: new key, CSR for the current identity, CA call, strict check of the answer, atomic write. The
 * answer must name exactly the identity asked for, carry our new public key, and verify against the roots we
 * already trust; anything else is refused and the current identity stays on disk.
 */
public final class Renewal {
    private final Clock clock;
    private final CaClient ca;
    private final KeySpec keySpec;
    private final boolean pkcs8;
    private final Duration ttl;
    private final CertsDirectory output;
    private final FileOwner owner;
    private final IdentityExpectation expectation;
    private final Optional<Path> tokenFile;

    /**
     * Renews as {@code settings} say, through {@code ca}, writing root's files readable by {@code owner}'s group
     * (VM_AGENT_CERTS_OWNER; the files are never that user's: see {@link CertsDirectory}).
     */
    public Renewal(IdentitySettings settings, CaClient ca, FileOwner owner, Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.ca = Objects.requireNonNull(ca, "ca");
        this.owner = Objects.requireNonNull(owner, "owner");
        this.keySpec = settings.keySpec();
        this.pkcs8 = settings.pkcs8Key();
        this.ttl = settings.secretTtl();
        this.output = new CertsDirectory(settings.outputCerts());
        this.expectation = settings.expectation();
        this.tokenFile = settings.tokenFile();
    }

    public CaEndpoint endpoint() {
        return ca.endpoint();
    }

    /** The CA endpoint that last issued a certificate (VM_AGENT_CA_PROTOCOL=auto picks it); empty before. */
    public Optional<CaEndpoint> caChosen() {
        return ca.chosen();
    }

    /**
     * Renews {@code current} if it is still valid (mTLS with it), otherwise enrols with the token file; the
     * trust roots are the current identity's, or {@code roots} when there is none.
     */
    public WorkloadIdentity renew(Optional<WorkloadIdentity> current, List<X509Certificate> roots)
            throws CaException, InvalidIdentityException, IOException {
        Optional<WorkloadIdentity> client = current.filter(c -> c.isValidAt(clock.instant()));
        CaClient.Credentials credentials = new CaClient.Credentials(client,
                client.isPresent() ? Optional.empty() : Optional.of(readToken(current)),
                current.map(WorkloadIdentity::roots).orElse(roots));
        SpiffeId id = current.map(WorkloadIdentity::spiffeId).orElseGet(() -> expectation.enrolmentId("default"));
        KeyPair keys = keySpec.generate();
        List<String> answer = ca.sign(Csr.build(id, keys, keySpec), ttl, credentials);
        List<X509Certificate> chain = new ArrayList<>();
        for (String pem : answer) {
            chain.addAll(parseAnswer(pem));
        }
        dropTrailingRoot(chain, credentials.roots());
        String from = "the CA's answer (" + ca.endpoint().address() + ")";
        WorkloadIdentity renewed = new IdentityValidator(
                new IdentityExpectation(id.trustDomain(), id.namespace(), Optional.of(id.serviceAccount())),
                "the new key", from, "root-cert.pem")
                .validate(keys.getPrivate(), chain, credentials.roots(), clock.instant());
        output.write(Pem.encodePrivateKey(keys.getPrivate(), pkcs8), renewed.chain(), renewed.roots(), owner.gid());
        return renewed;
    }

    private List<X509Certificate> parseAnswer(String pem) throws InvalidIdentityException {
        return Pem.certificates("the CA's answer", pem.getBytes(StandardCharsets.US_ASCII));
    }

    /** cert-chain.pem holds leaf and intermediates; the root the CA appends is already in root-cert.pem. */
    private static void dropTrailingRoot(List<X509Certificate> chain, List<X509Certificate> roots) {
        if (chain.size() > 1 && roots.contains(chain.get(chain.size() - 1))) {
            chain.remove(chain.size() - 1);
        }
    }

    /** A projected service-account token is about 1 KiB; Kubernetes caps a secret at 1 MiB. */
    private static final long MAX_TOKEN_BYTES = 64 * 1024;

    private String readToken(Optional<WorkloadIdentity> current) throws CaException, IOException {
        String why = current.isPresent() ? "the certificate expired at " + current.get().notAfter()
                : "there is no valid certificate in " + output.dir();
        if (tokenFile.isEmpty()) {
            throw new CaException(why + ", and VM_AGENT_CA_TOKEN_FILE is not set: copy a fresh root-cert.pem, "
                    + "cert-chain.pem and key.pem (e.g. from `istioctl x workload entry configure`) into "
                    + output.dir() + ", or set VM_AGENT_CA_TOKEN_FILE to a bearer token (istio-token) so the "
                    + "agent can enrol by itself");
        }
        try {
            // Bounded, regular files only, the last component not followed: the token's directory may be Envoy's
            // user's (Istio mounts /var/run/secrets/tokens for istio-proxy), and a FIFO or a huge file there must not
            // stall or exhaust the rotation.
            HeldDirectory.RegularFile file = HeldDirectory.readRegularFile(tokenFile.get(), MAX_TOKEN_BYTES);
            String token = file.text().strip();
            if (token.isEmpty()) {
                throw new CaException(why + ", and the token file " + tokenFile.get() + " is empty");
            }
            if ((file.mode() & 04) != 0) {
                throw new CaException("the token file " + tokenFile.get() + " is readable by every user; chmod 600 it");
            }
            return token;
        } catch (NoSuchFileException e) {
            throw new CaException(why + ", and the token file " + tokenFile.get() + " (VM_AGENT_CA_TOKEN_FILE) does "
                    + "not exist");
        }
    }
}
