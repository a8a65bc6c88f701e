package io.istiovm.agent.envoy;

import io.istiovm.agent.config.Accounts;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.UserRef;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The numeric user and group Envoy runs as, resolved from ENVOY_USER through the host's passwd and group. Never
 * root: Envoy parses traffic from the network, and a uid-0 Envoy would run without setpriv or the parent-death
 * signal.
 */
public record ProcessUser(String label, long uid, long gid) {
    /** Istio's uid and gid for istio-proxy when the user does not exist on the host. */
    public static final long ISTIO_PROXY_ID = Accounts.ISTIO_PROXY_ID;

    public ProcessUser {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative");
        }
        if (uid == 0) {
            throw new IllegalArgumentException("Envoy never runs as uid 0");
        }
    }

    /** The user for ENVOY_USER, or why there is none (see {@link Accounts#envoyUser}). */
    public static ProcessUser resolve(UserRef user, Accounts accounts) throws InvalidValueException {
        Accounts.Account account = accounts.envoyUser(user);
        return new ProcessUser(user.toString(), account.uid(), account.gid());
    }

    /**
     * As {@link #resolve(UserRef, Accounts)}, with the group file beside {@code passwd}; a user that cannot run
     * Envoy is an {@link IOException} saying why.
     */
    public static ProcessUser resolve(UserRef user, Path passwd) throws IOException {
        try {
            return resolve(user, Accounts.files(passwd, passwd.resolveSibling("group")));
        } catch (InvalidValueException e) {
            throw new IOException("ENVOY_USER=" + user + ": " + e.getMessage(), e);
        }
    }
}
