package io.istiovm.agent.certs;

import io.istiovm.agent.config.Accounts;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.UserRef;
import java.io.IOException;

/**
 * The user VM_AGENT_CERTS_OWNER names, numerically. The identity files stay root's (Envoy's user must not be able
 * to change what the agent trusts); only this user's group is given read access ({@link CertsDirectory}).
 */
public record FileOwner(int uid, int gid) {
    public FileOwner {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative");
        }
    }

    /**
     * A uid stands for itself (gid = uid); a name is the account's uid and primary group, with Istio's 1337
     * fallback under {@link Accounts#named}'s rule (refused when 1337 is another account's or group's).
     */
    public static FileOwner resolve(UserRef user, Accounts accounts) throws IOException {
        if (user.uid().isPresent()) {
            int id = Math.toIntExact(user.uid().getAsLong());
            return new FileOwner(id, id);
        }
        try {
            Accounts.Account account = accounts.named(user.name(),
                    "VM_AGENT_CERTS_OWNER to the user (or uid) whose group may read the key");
            return new FileOwner(Math.toIntExact(account.uid()), Math.toIntExact(account.gid()));
        } catch (InvalidValueException e) {
            throw new IOException("VM_AGENT_CERTS_OWNER: " + e.getMessage());
        }
    }

    @Override
    public String toString() {
        return uid + ":" + gid;
    }
}
