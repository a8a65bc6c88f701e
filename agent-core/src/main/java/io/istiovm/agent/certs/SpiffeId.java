package io.istiovm.agent.certs;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** An Istio workload identity, {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}. */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {
    private static final Pattern FORM = Pattern.compile("spiffe://([^/]+)/ns/([^/]+)/sa/([^/]+)");

    public SpiffeId {
        for (String part : new String[] {trustDomain, namespace, serviceAccount}) {
            if (part == null || part.isEmpty() || part.contains("/")) {
                throw new IllegalArgumentException("SPIFFE id parts must be non-empty and contain no '/'");
            }
        }
    }

    /** Parses the URI form; the message says what form was expected. */
    public static SpiffeId parse(String uri) throws InvalidIdentityException {
        Matcher m = FORM.matcher(uri);
        if (!m.matches()) {
            throw new InvalidIdentityException("URI SAN '" + uri + "' is not of the form "
                    + "spiffe://<trust domain>/ns/<namespace>/sa/<service account>");
        }
        return new SpiffeId(m.group(1), m.group(2), m.group(3));
    }

    /** The certificate's SPIFFE id when it carries exactly one URI SAN of that form. */
    public static Optional<SpiffeId> of(X509Certificate certificate) {
        List<String> uris = IdentityValidator.uriSans(certificate);
        if (uris.size() != 1) {
            return Optional.empty();
        }
        try {
            return Optional.of(parse(uris.get(0)));
        } catch (InvalidIdentityException e) {
            return Optional.empty();
        }
    }

    public String uri() {
        return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return uri();
    }
}
