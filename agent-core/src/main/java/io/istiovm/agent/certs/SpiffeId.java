package io.istiovm.agent.certs;

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

    public String uri() {
        return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return uri();
    }
}
