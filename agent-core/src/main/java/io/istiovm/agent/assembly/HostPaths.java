package io.istiovm.agent.assembly;

import io.istiovm.agent.config.Accounts;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the host's own files are: {@code etc} (passwd, group, ssh/sshd_config) and {@code proc}. The daemon uses
 * the real ones; tests point them at a scratch tree.
 */
public record HostPaths(Path etc, Path proc) {

    public HostPaths {
        Objects.requireNonNull(etc, "etc");
        Objects.requireNonNull(proc, "proc");
    }

    public static HostPaths system() {
        return new HostPaths(Path.of("/etc"), Path.of("/proc"));
    }

    public Path passwd() {
        return etc.resolve("passwd");
    }

    public Path group() {
        return etc.resolve("group");
    }

    /** The users and groups of {@link #passwd()} and {@link #group()}. */
    public Accounts accounts() {
        return Accounts.files(passwd(), group());
    }
}
