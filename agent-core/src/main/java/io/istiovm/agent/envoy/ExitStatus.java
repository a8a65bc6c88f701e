package io.istiovm.agent.envoy;

import java.util.Map;
import java.util.OptionalLong;

/**
 * How an Envoy process ended, in words an operator can act on. Java reports a death by signal N as status
 * 128+N; a SIGKILL is named an OOM kill only when the cgroup's {@code oom_kill} counter moved while it ran.
 */
public record ExitStatus(int status, OptionalLong oomKillsBefore, OptionalLong oomKillsAfter) {
    private static final Map<Integer, String> SIGNALS = Map.of(1, "SIGHUP", 2, "SIGINT", 4, "SIGILL", 6, "SIGABRT",
            7, "SIGBUS", 8, "SIGFPE", 9, "SIGKILL", 11, "SIGSEGV", 13, "SIGPIPE", 15, "SIGTERM");

    public boolean signalled() {
        return status > 128 && status < 128 + 65;
    }

    public boolean oomKilled() {
        return status == 128 + 9 && oomKillsBefore.isPresent() && oomKillsAfter.isPresent()
                && oomKillsAfter.getAsLong() > oomKillsBefore.getAsLong();
    }

    public String describe() {
        if (!signalled()) {
            return "exited with status " + status;
        }
        int signal = status - 128;
        String name = SIGNALS.getOrDefault(signal, "signal " + signal);
        if (oomKilled()) {
            return "killed by the kernel's OOM killer (" + name + "; cgroup oom_kill " + oomKillsBefore.getAsLong()
                    + " -> " + oomKillsAfter.getAsLong() + ")";
        }
        if (signal == 9) {
            return "killed by SIGKILL" + (oomKillsBefore.isPresent() ? " (not the OOM killer: the cgroup's oom_kill "
                    + "count did not change)" : " (possibly the OOM killer; the cgroup's oom_kill count is unreadable)");
        }
        return "killed by " + name;
    }
}
