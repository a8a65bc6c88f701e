package io.istiovm.agent.unix;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The address of a unix-domain socket: a path, or a name in Linux's abstract namespace (no file; written with a
 * leading {@code @}, as systemd writes such addresses in {@code $NOTIFY_SOCKET}). Immutable, checked at
 * construction against sockaddr_un's 108-byte sun_path.
 */
public record UnixAddress(String name, boolean isAbstract) {
    /** sun_path's size on Linux. A path needs its terminating NUL; an abstract name needs its leading one. */
    static final int SUN_PATH = 108;

    public UnixAddress {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty() || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a unix socket address is a non-empty name without NUL: " + name);
        }
        if (name.getBytes(StandardCharsets.UTF_8).length > SUN_PATH - 1) {
            throw new IllegalArgumentException("a unix socket address has at most " + (SUN_PATH - 1)
                    + " bytes: " + name);
        }
        if (!isAbstract && !name.startsWith("/")) {
            throw new IllegalArgumentException("a unix socket path is absolute: " + name);
        }
    }

    /** {@code @name} for the abstract namespace, else an absolute path; as systemd's $NOTIFY_SOCKET holds it. */
    public static UnixAddress parse(String text) {
        Objects.requireNonNull(text, "text");
        return text.startsWith("@") ? new UnixAddress(text.substring(1), true) : new UnixAddress(text, false);
    }

    public static UnixAddress path(String path) {
        return new UnixAddress(path, false);
    }

    /** struct sockaddr_un as the kernel takes it, exactly as long as the address (the length is the array's). */
    byte[] sockaddr() {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        // sa_family_t AF_UNIX (1), little-endian on every platform this runs on, then sun_path.
        byte[] addr = new byte[2 + bytes.length + 1];
        addr[0] = 1;
        System.arraycopy(bytes, 0, addr, isAbstract ? 3 : 2, bytes.length);
        return addr;
    }

    @Override
    public String toString() {
        return isAbstract ? "@" + name : name;
    }
}
