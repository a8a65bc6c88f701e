package io.istiovm.agent.config;

import java.util.OptionalLong;

/** A local user, by name or by numeric uid, as iptables' owner match accepts it. */
public record UserRef(String name, OptionalLong uid) {
    public UserRef {
        if ((name == null) == uid.isEmpty()) {
            throw new IllegalArgumentException("a user is either a name or a uid");
        }
    }

    public static UserRef named(String name) {
        return new UserRef(name, OptionalLong.empty());
    }

    public static UserRef uid(long uid) {
        return new UserRef(null, OptionalLong.of(uid));
    }

    @Override
    public String toString() {
        return name != null ? name : Long.toString(uid.getAsLong());
    }
}
