package io.istiovm.agent.certs;

import io.istiovm.agent.config.UserRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The user VM_AGENT_CERTS_OWNER names, numerically. The identity files stay root's (Envoy's user must not be able
 * to change what the agent trusts); only this user's group is given read access ({@link CertsDirectory}).
 */
public record FileOwner(int uid, int gid) {
    /** Istio's fallback when istio-proxy does not exist (the same as ENVOY_USER's). */
    public static final int ISTIO_PROXY_FALLBACK_ID = 1337;

    public FileOwner {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative");
        }
    }

    /**
     * A uid stands for itself (gid = uid); a name is looked up in {@code passwd} (its primary group), and a name
     * that is not there falls back to 1337/1337 as Istio's tooling does, unless 1337 is another account's uid or
     * primary group (then this throws, naming it).
     */
    public static FileOwner resolve(UserRef user, Path passwd) throws IOException {
        if (user.uid().isPresent()) {
            int id = Math.toIntExact(user.uid().getAsLong());
            return new FileOwner(id, id);
        }
        List<String> lines = Files.exists(passwd) ? Files.readAllLines(passwd, StandardCharsets.UTF_8) : List.of();
        for (String line : lines) {
            String[] fields = line.split(":", -1);
            if (fields.length >= 4 && fields[0].equals(user.name())) {
                return new FileOwner(Integer.parseInt(fields[2]), Integer.parseInt(fields[3]));
            }
        }
        // The fallback would give the key's group read access to whoever holds 1337: only when that is nobody.
        String fallback = Integer.toString(ISTIO_PROXY_FALLBACK_ID);
        for (String line : lines) {
            String[] fields = line.split(":", -1);
            if (fields.length >= 4 && (fields[2].equals(fallback) || fields[3].equals(fallback))) {
                throw new IOException("VM_AGENT_CERTS_OWNER: there is no user '" + user.name() + "' in " + passwd
                        + ", and Istio's fallback id " + fallback + " belongs to user '" + fields[0] + "'; create the "
                        + "user or set VM_AGENT_CERTS_OWNER to the user (or uid) whose group may read the key");
            }
        }
        return new FileOwner(ISTIO_PROXY_FALLBACK_ID, ISTIO_PROXY_FALLBACK_ID);
    }

    @Override
    public String toString() {
        return uid + ":" + gid;
    }
}
