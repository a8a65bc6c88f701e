package io.istiovm.agent.logging;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Whether the agent's log goes to the journal's native socket or to stderr, decided once at start from the
 * environment, as systemd.exec(5) (systemd 252) describes $JOURNAL_STREAM: a program whose stderr is the journal
 * stream ("device:inode" of fd 2 equals the variable) may upgrade to the native protocol, which keeps priority and
 * fields. A unit started by systemd (with $INVOCATION_ID) but without $JOURNAL_STREAM (StandardError=null, or
 * socket-activated) also logs to the native socket when it exists. $JOURNAL_STREAM set but not matching means the
 * operator redirected stderr (to a file, a pipe): plain lines there. {@code VM_AGENT_LOG_TARGET} (journal, stderr,
 * auto) overrides the guess.
 */
public enum LogTarget {
    JOURNAL, STDERR;

    /**
     * @param env the process environment
     * @param stderrDevIno stderr's device and inode, if it could be read
     * @param journalSocketExists whether journald's native socket exists
     */
    public static LogTarget choose(Map<String, String> env, Optional<long[]> stderrDevIno,
                                   boolean journalSocketExists) {
        String forced = env.getOrDefault("VM_AGENT_LOG_TARGET", "auto").strip().toLowerCase(Locale.ROOT);
        switch (forced) {
            case "journal":
                return JOURNAL;
            case "stderr":
                return STDERR;
            default:
                break;
        }
        String stream = env.get("JOURNAL_STREAM");
        if (stream != null) {
            return stderrDevIno.isPresent() && matches(stream, stderrDevIno.get()) ? JOURNAL : STDERR;
        }
        return env.containsKey("INVOCATION_ID") && journalSocketExists ? JOURNAL : STDERR;
    }

    /** Whether {@code journalStream} ("dev:ino", both decimal, as systemd writes it) names {@code devIno}. */
    static boolean matches(String journalStream, long[] devIno) {
        int colon = journalStream.indexOf(':');
        if (colon < 0) {
            return false;
        }
        try {
            return Long.parseUnsignedLong(journalStream.substring(0, colon)) == devIno[0]
                    && Long.parseUnsignedLong(journalStream.substring(colon + 1)) == devIno[1];
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
