package io.istiovm.agent.sds;

import java.nio.file.Path;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Where the SDS server listens ({@code socket}, absolute) and which group may connect besides the agent's own
 * user ({@code socketGroup}: Envoy's group; empty leaves the socket's group as created).
 */
public record SdsSettings(Path socket, OptionalInt socketGroup) {

    public SdsSettings {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(socketGroup, "socketGroup");
        socket = socket.toAbsolutePath();
        if (socket.getParent() == null) {
            throw new IllegalArgumentException("the SDS socket needs a directory: " + socket);
        }
    }
}
