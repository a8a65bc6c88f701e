package io.istiovm.agent.envoy;

import io.istiovm.agent.config.UserRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The numeric user and group Envoy runs as, resolved from ENVOY_USER through a passwd file. */
public record ProcessUser(String label, long uid, long gid) {
    /** Istio's uid and gid for istio-proxy when the user does not exist on the host. */
    public static final long ISTIO_PROXY_ID = 1337;

    public ProcessUser {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative");
        }
    }

    /**
     * A name is looked up in {@code passwd}; a name that is missing gets 1337/1337 as Istio does. A uid is used
     * as is, with the primary group from {@code passwd} when the uid has an entry, else the same number.
     */
    public static ProcessUser resolve(UserRef user, Path passwd) throws IOException {
        List<String> lines = Files.exists(passwd) ? Files.readAllLines(passwd) : List.of();
        for (String line : lines) {
            String[] fields = line.split(":", -1);
            if (fields.length < 4) {
                continue;
            }
            boolean match = user.name() != null ? fields[0].equals(user.name())
                    : fields[2].equals(Long.toString(user.uid().getAsLong()));
            if (match) {
                return new ProcessUser(user.toString(), Long.parseLong(fields[2]), Long.parseLong(fields[3]));
            }
        }
        if (user.name() != null) {
            return new ProcessUser(user.toString(), ISTIO_PROXY_ID, ISTIO_PROXY_ID);
        }
        return new ProcessUser(user.toString(), user.uid().getAsLong(), user.uid().getAsLong());
    }
}
