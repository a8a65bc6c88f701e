package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How the agent reaches the iptables programs: an optional command prefix (tests use {@code ip netns exec NS}),
 * an optional directory of the binaries (tests put failing wrappers there), the runner, and the xtables lock
 * policy: {@code --wait} seconds, then this many retries of a restore that still found the lock taken.
 */
public record NetfilterTools(CommandRunner runner, List<String> prefix, Optional<String> binDir,
                             int lockWaitSeconds, int lockRetries, Duration retryDelay, Duration timeout,
                             Sleeper sleeper) {
    /** iptables' exit code for "resource problem", which is what a held xtables lock gives (istio#10818). */
    static final int RESOURCE_PROBLEM = 4;

    /** Waits between retries; tests pass one that returns at once. */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(Duration duration) throws InterruptedException;
    }

    public NetfilterTools {
        Objects.requireNonNull(runner, "runner");
        prefix = List.copyOf(prefix);
        Objects.requireNonNull(binDir, "binDir");
        if (lockWaitSeconds < 0 || lockRetries < 0) {
            throw new IllegalArgumentException("negative lock wait or retries");
        }
    }

    /** The production settings: wait 5 s for the lock, retry 4 times 2 s apart (as Kuma does). */
    public static NetfilterTools system() {
        return new NetfilterTools(CommandRunner.processes(), List.of(), Optional.empty(), 5, 4,
                Duration.ofSeconds(2), Duration.ofSeconds(60), duration -> Thread.sleep(duration.toMillis()));
    }

    /** The same tools run inside network namespace {@code name} ({@code ip netns exec}). */
    public NetfilterTools inNetworkNamespace(String name) {
        List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", name));
        wrapped.addAll(prefix);
        return new NetfilterTools(runner, wrapped, binDir, lockWaitSeconds, lockRetries, retryDelay, timeout,
                sleeper);
    }

    public NetfilterTools withBinDir(String directory) {
        return new NetfilterTools(runner, prefix, Optional.of(directory), lockWaitSeconds, lockRetries, retryDelay,
                timeout, sleeper);
    }

    public NetfilterTools withSleeper(Sleeper noWait) {
        return new NetfilterTools(runner, prefix, binDir, lockWaitSeconds, lockRetries, retryDelay, timeout, noWait);
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

    /** Runs a restore-like program, retrying while the xtables lock is held by someone else. */
    public CommandRunner.Result runWithLockRetries(String program, List<String> args, String stdin)
            throws IOException, CaptureException {
        CommandRunner.Result result = run(program, args, stdin);
        for (int attempt = 0; attempt < lockRetries && result.exitCode() == RESOURCE_PROBLEM; attempt++) {
            try {
                sleeper.sleep(retryDelay);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CaptureException("interrupted while waiting for the xtables lock", e);
            }
            result = run(program, args, stdin);
        }
        return result;
    }
}
