package io.istiovm.agent.logging;

import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.util.Objects;

/**
 * Sends entries to journald's native socket, one datagram each ({@link JournalFields}).
 *
 * <p>A datagram the kernel refuses as too large (EMSGSIZE; ENOBUFS alike) is not lost: its longest field is cut in
 * half, with a marker, until it fits. systemd's own client (journal-send.c, systemd 252) passes such an entry in a
 * sealed memfd over SCM_RIGHTS instead; we do not, because that needs sendmsg with ancillary data and memfd sealing
 * through JNA for lines only a pathological input produces (Envoy's lines are already cut at BoundedLines'
 * limit), and a cut line with a marker says what happened. When the journal is gone (no socket, refused), the entry
 * is written to the fallback sink (stderr) instead of being dropped, as systemd's client drops it silently.
 */
public final class JournalSink implements LogSink {
    /** journald's native socket (systemd.journal-fields(7), sd_journal_sendv). */
    public static final UnixAddress SOCKET = UnixAddress.path(AgentLogging.JOURNAL_SOCKET);
    static final int EMSGSIZE = 90;
    static final int ENOBUFS = 105;
    /** Halvings before giving an entry to the fallback: 2^-24 of a field is nothing left to cut. */
    private static final int MAX_CUTS = 24;

    private final UnixDatagramSocket socket;
    private final UnixAddress address;
    private final LogSink fallback;

    public JournalSink(UnixDatagramSocket socket, UnixAddress address, LogSink fallback) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.address = Objects.requireNonNull(address, "address");
        this.fallback = Objects.requireNonNull(fallback, "fallback");
    }

    @Override
    public boolean wantsCallSite() {
        return true;
    }

    @Override
    public void write(LogEntry entry) {
        JournalFields fields = JournalFields.of(entry);
        for (int cuts = 0; cuts <= MAX_CUTS; cuts++) {
            try {
                socket.send(address, fields.encode());
                return;
            } catch (UnixDatagramSocket.SendFailed e) {
                if (e.errno() != EMSGSIZE && e.errno() != ENOBUFS) {
                    break;
                }
                int longest = fields.longest();
                fields.cut(longest, fields.value(longest).length / 2);
            } catch (IOException e) {
                break;
            }
        }
        fallback.write(entry);
    }
}
