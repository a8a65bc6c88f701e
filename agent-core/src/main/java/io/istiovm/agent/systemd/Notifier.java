package io.istiovm.agent.systemd;

import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.StringJoiner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends sd_notify(3) messages to the service manager, from this process (never by exec'ing systemd-notify, whose
 * datagrams systemd attributes to the short-lived child and, with NotifyAccess=main, drops).
 *
 * <p>Follows systemd 252's {@code src/libsystemd/sd-daemon/sd-daemon.c}: {@code $NOTIFY_SOCKET} is an absolute path
 * or, with a leading {@code @}, a name in the abstract namespace (anything else is refused, as sd_notify refuses it
 * with EINVAL); one message is one SOCK_DGRAM datagram sent with MSG_NOSIGNAL from a close-on-exec socket, and
 * holds newline-separated {@code KEY=value} assignments (systemd-notify joins its arguments the same way). Without
 * {@code $NOTIFY_SOCKET} every send does nothing, as sd_notify returns 0. A send that fails is logged and dropped:
 * telling systemd is best effort and must never stop the agent.
 */
public final class Notifier implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Notifier.class);
    /** systemd reads at most this much of one notify datagram (NOTIFY_BUFFER_MAX in 252's src/core/manager.c). */
    static final int MAX_DATAGRAM = 4096;

    private final Optional<UnixAddress> address;
    private final UnixDatagramSocket socket;
    private boolean failureLogged;

    private Notifier(Optional<UnixAddress> address, UnixDatagramSocket socket) {
        this.address = address;
        this.socket = socket;
    }

    /** Sends nothing: not run by systemd, or told not to notify. */
    public static Notifier none() {
        return new Notifier(Optional.empty(), null);
    }

    /** To {@code address}. */
    public static Notifier to(UnixAddress address) throws IOException {
        return new Notifier(Optional.of(address), UnixDatagramSocket.open());
    }

    /**
     * From the process environment: {@code $NOTIFY_SOCKET} when it is set and valid, else {@link #none()} (an
     * invalid value is logged: sd_notify would refuse it too).
     */
    public static Notifier fromEnvironment(Map<String, String> environment) throws IOException {
        String value = environment.get("NOTIFY_SOCKET");
        if (value == null || value.isEmpty()) {
            return none();
        }
        UnixAddress parsed;
        try {
            parsed = UnixAddress.parse(value);
        } catch (IllegalArgumentException e) {
            LOG.warn("NOTIFY_SOCKET is not a unix socket address, not notifying systemd: {}", e.getMessage());
            return none();
        }
        return to(parsed);
    }

    public boolean enabled() {
        return address.isPresent();
    }

    public Optional<UnixAddress> address() {
        return address;
    }

    /** Sends {@code fields} (in order) as one datagram. */
    public void send(Map<String, String> fields) {
        if (address.isEmpty()) {
            return;
        }
        byte[] datagram = format(fields);
        try {
            socket.send(address.get(), datagram);
        } catch (IOException e) {
            synchronized (this) {
                // Once at warn: systemd going away (its socket gone) would otherwise log every 15 s.
                if (!failureLogged) {
                    failureLogged = true;
                    LOG.warn("could not notify systemd ({}): {}", fields.keySet(), e.getMessage());
                } else {
                    LOG.debug("could not notify systemd ({}): {}", fields.keySet(), e.getMessage());
                }
            }
        }
    }

    /** One assignment. */
    public void send(String key, String value) {
        send(Map.of(key, value));
    }

    /** {@code KEY=value} lines joined by newlines; a value is one line (a newline would start another key). */
    static byte[] format(Map<String, String> fields) {
        Objects.requireNonNull(fields, "fields");
        if (fields.isEmpty()) {
            throw new IllegalArgumentException("a notify message has at least one assignment");
        }
        StringJoiner lines = new StringJoiner("\n");
        new LinkedHashMap<>(fields).forEach((key, value) -> {
            if (!key.matches("[A-Z][A-Z0-9_]*") || value.indexOf('\n') >= 0 || value.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("not a notify assignment: " + key);
            }
            lines.add(key + "=" + value);
        });
        byte[] bytes = lines.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > MAX_DATAGRAM) {
            throw new IllegalArgumentException("a notify message has at most " + MAX_DATAGRAM + " bytes");
        }
        return bytes;
    }

    @Override
    public void close() {
        if (socket != null) {
            socket.close();
        }
    }
}
