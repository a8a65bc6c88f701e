package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How the agent reaches the iptables programs: an optional command prefix (tests use {@code ip netns exec NS}),
 * an optional directory of the binaries (tests put failing wrappers there), the runner, how long a restore waits
 * for the xtables lock ({@code --wait}), and how long any program may run.
 *
 * <p>There is no retry loop here: iptables itself waits for the lock (polling it every second) for
 * {@code lockWaitSeconds}, and a restore that still finds it taken fails; the running agent's capture loop tries
 * again on its next step, a command reports it.
 */
public record NetfilterTools(CommandRunner runner, List<String> prefix, Optional<String> binDir,
                             int lockWaitSeconds, Duration timeout) {
    /** iptables' exit code for "resource problem", which is what a held xtables lock gives (istio#10818). */
    static final int RESOURCE_PROBLEM = 4;

    public NetfilterTools {
        Objects.requireNonNull(runner, "runner");
        prefix = List.copyOf(prefix);
        Objects.requireNonNull(binDir, "binDir");
        Objects.requireNonNull(timeout, "timeout");
        if (lockWaitSeconds < 0) {
            throw new IllegalArgumentException("negative lock wait");
        }
    }

    /** How long one netfilter program may run before it is killed (the systemd watchdog's bound builds on it). */
    public static final Duration PROGRAM_DEADLINE = Duration.ofSeconds(60);

    /**
     * The production settings: wait up to 30 s for the xtables lock (about what the earlier 5 s wait with four
     * retries 2 s apart tolerated, as Kuma does), and kill any program after 60 s.
     */
    public static NetfilterTools system() {
        return new NetfilterTools(CommandRunner.processes(), List.of(), Optional.empty(), 30, PROGRAM_DEADLINE);
    }

    /** The same tools run inside network namespace {@code name} ({@code ip netns exec}). */
    public NetfilterTools inNetworkNamespace(String name) {
        List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", name));
        wrapped.addAll(prefix);
        return new NetfilterTools(runner, wrapped, binDir, lockWaitSeconds, timeout);
    }

    public NetfilterTools withBinDir(String directory) {
        return new NetfilterTools(runner, prefix, Optional.of(directory), lockWaitSeconds, timeout);
    }

    public CommandRunner.Result run(String program, List<String> args, String stdin) throws IOException {
        List<String> command = new ArrayList<>(prefix);
        command.add(binDir.map(dir -> dir + "/" + program).orElse(program));
        command.addAll(args);
        return runner.run(command, stdin, timeout);
    }

    /** Runs a program found on PATH (such as {@code ip}), ignoring the iptables binary directory. */
    public CommandRunner.Result runOnPath(String program, List<String> args) throws IOException {
        List<String> command = new ArrayList<>(prefix);
        command.add(program);
        command.addAll(args);
        return runner.run(command, "", timeout);
    }
}
