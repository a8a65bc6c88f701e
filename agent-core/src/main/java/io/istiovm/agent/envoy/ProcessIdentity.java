package io.istiovm.agent.envoy;

import java.util.Objects;

/**
 * A process as the kernel identifies it across pid reuse: pid, start time (clock ticks since boot, from
 * {@code /proc/PID/stat}) and executable ({@code /proc/PID/exe}). Never its command line, which any process can
 * set to anything.
 */
record ProcessIdentity(long pid, long startTime, String executable) {
    ProcessIdentity {
        Objects.requireNonNull(executable, "executable");
        if (pid < 1 || startTime < 0 || executable.isEmpty()
                || executable.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw new IllegalArgumentException("not a process identity: " + pid + " " + startTime);
        }
    }

    /** One line of the agent's record: {@code pid starttime executable}. */
    String line() {
        return pid + " " + startTime + " " + executable;
    }

    /** The identity {@code line} records; the executable is the rest of the line and may hold spaces. */
    static ProcessIdentity parse(String line) {
        String[] f = line.split(" ", 3);
        if (f.length != 3) {
            throw new IllegalArgumentException("not a process record: " + line);
        }
        return new ProcessIdentity(Long.parseLong(f[0]), Long.parseLong(f[1]), f[2]);
    }
}
