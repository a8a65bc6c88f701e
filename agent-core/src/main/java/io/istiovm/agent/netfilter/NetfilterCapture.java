package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies, verifies and removes the agent's capture rules on one backend. Each family is changed by one
 * {@code iptables-restore --noflush} transaction, checked first with {@code --test}; when the real run fails the
 * previous rules are put back, so a failed apply leaves the host as it was.
 *
 * <p>On the nft backend the two families run side by side: {@code iptables-nft} and {@code ip6tables-nft} change
 * separate kernel tables ({@code ip} and {@code ip6}) in netlink transactions of their own and take no shared
 * lock, so neither waits for the other and an apply costs one family's process chain, not two. On the legacy
 * backend both share {@code /run/xtables.lock}, and a restore that finds it taken re-polls only every second
 * (iptables 1.8 {@code xtables_lock}), so there the families stay one after the other.
 */
public final class NetfilterCapture {
    private static final Logger LOG = LoggerFactory.getLogger(NetfilterCapture.class);

    private final NetfilterTools tools;
    private final Backend backend;

    public NetfilterCapture(NetfilterTools tools, Backend backend) {
        this.tools = tools;
        this.backend = backend;
    }

    /** Chooses the backend as configured ({@code auto}, {@code nft}, {@code legacy}), refusing a mixed host. */
    public static NetfilterCapture open(NetfilterTools tools, String configured) throws CaptureException {
        return new NetfilterCapture(tools, BackendDetector.choose(tools, configured));
    }

    public Backend backend() {
        return backend;
    }

    /** Replaces the agent's rules with the plan's, in every family, then checks the result. */
    public void apply(CapturePlan plan) throws CaptureException {
        eachFamily(family -> {
            replace(family, plan.rules(family));
            return Boolean.TRUE;
        });
        TproxyRouting.apply(tools, plan);
        PassthroughAddress.apply(tools, plan);
        Drift drift = verify(plan);
        if (!drift.isEmpty()) {
            throw new CaptureException("rules read back differ from the plan after apply:\n" + drift.describe());
        }
    }

    /**
     * Replaces the rules of {@code previous} (installed) with those of {@code next}, one transaction per family as
     * {@link #apply} does, and removes a TPROXY policy route that {@code next} no longer uses.
     */
    public void replace(CapturePlan previous, CapturePlan next) throws CaptureException {
        apply(next);
        if (previous.tproxyRoute().isPresent() && !previous.tproxyRoute().equals(next.tproxyRoute())) {
            TproxyRouting.removeUnused(tools, previous.tproxyRoute().get(), next.tproxyRoute());
        }
    }

    /** Removes every chain and jump the agent owns; succeeds on a host where there is nothing to remove. */
    public void clean(Optional<CapturePlan.TproxyRoute> route) throws CaptureException {
        eachFamily(family -> {
            replace(family, CaptureRules.none(family));
            return Boolean.TRUE;
        });
        TproxyRouting.remove(tools, route);
    }

    /** The difference between the plan and what the kernel has now, over the agent's own rules only. */
    public Drift verify(CapturePlan plan) throws CaptureException {
        List<Drift.Line> lines = new ArrayList<>();
        Map<IpFamily, Optional<SavedRules>> saved = eachFamily(family -> save(family, plan.rules(family).isEmpty()));
        for (IpFamily family : IpFamily.values()) {
            CaptureRules desired = plan.rules(family);
            Optional<SavedRules> actual = saved.get(family);
            if (actual.isEmpty()) {
                continue;
            }
            Map<String, List<String>> want = desired.saveLines();
            Map<String, List<String>> have = actual.get().saveLines();
            TreeSet<String> tables = new TreeSet<>(want.keySet());
            tables.addAll(have.keySet());
            for (String table : tables) {
                lines.addAll(Drift.compare(family, table, want.getOrDefault(table, List.of()),
                        have.getOrDefault(table, List.of())));
            }
        }
        lines.addAll(TproxyRouting.missing(tools, plan));
        lines.addAll(PassthroughAddress.missing(tools, plan));
        return new Drift(lines);
    }

    @FunctionalInterface
    private interface FamilyStep<T> {
        T run(IpFamily family) throws CaptureException;
    }

    /**
     * Runs {@code step} for every family, IPv6 on a thread of its own on the nft backend (see the class comment),
     * and returns only when every family's step has ended, so no transaction outlives the call. When both fail,
     * the IPv4 failure is thrown with the IPv6 one suppressed.
     */
    private <T> Map<IpFamily, T> eachFamily(FamilyStep<T> step) throws CaptureException {
        Map<IpFamily, T> results = new EnumMap<>(IpFamily.class);
        if (backend != Backend.NFT) {
            for (IpFamily family : IpFamily.values()) {
                results.put(family, step.run(family));
            }
            return results;
        }
        FutureTask<T> ipv6 = new FutureTask<>(() -> step.run(IpFamily.IPV6));
        Thread thread = new Thread(ipv6, "capture-ipv6");
        thread.setDaemon(true);
        thread.start();
        Exception failure = null;
        try {
            results.put(IpFamily.IPV4, step.run(IpFamily.IPV4));
        } catch (CaptureException | RuntimeException e) {
            failure = e;
        }
        try {
            results.put(IpFamily.IPV6, awaitUninterruptibly(ipv6));
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (failure != null) {
                failure.addSuppressed(cause);
            } else if (cause instanceof CaptureException || cause instanceof RuntimeException) {
                failure = (Exception) cause;
            } else {
                throw new IllegalStateException("IPv6 step failed", cause);
            }
        }
        if (failure instanceof CaptureException e) {
            throw e;
        }
        if (failure != null) {
            throw (RuntimeException) failure;
        }
        return results;
    }

    /**
     * Waits for the IPv6 step even when interrupted: its program is bounded by the tools' timeout, and returning
     * while it still changes rules would let the caller's next step race it. The interrupt is kept for the caller.
     */
    private static <T> T awaitUninterruptibly(FutureTask<T> task) throws ExecutionException {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return task.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The agent's current rules of {@code family}; empty when the family's tools are unusable and none are wanted. */
    public Optional<SavedRules> save(IpFamily family, boolean optional) throws CaptureException {
        CommandRunner.Result result;
        try {
            result = tools.run(backend.program(family, "save"), List.of(), "");
        } catch (IOException e) {
            if (optional) {
                return Optional.empty();
            }
            throw new CaptureException("cannot read " + family.label() + " rules: " + e.getMessage(), e);
        }
        if (!result.ok()) {
            if (optional) {
                LOG.debug("{} rules unreadable, none wanted: {}", family.label(), result.describe());
                return Optional.empty();
            }
            throw new CaptureException("cannot read " + family.label() + " rules: " + result.describe());
        }
        return Optional.of(SavedRules.parse(family, result.stdout()));
    }

    private void replace(IpFamily family, CaptureRules desired) throws CaptureException {
        Optional<SavedRules> read = save(family, desired.isEmpty());
        if (read.isEmpty()) {
            return;
        }
        SavedRules previous = read.get();
        // Another chain may jump into an agent chain that stays (it is only refilled), but deleting a chain that
        // something else still references would fail the whole transaction, so say which rule is in the way.
        List<Rule> blocking = previous.foreignReferences().stream()
                .filter(rule -> !desired.chains().contains(new CaptureRules.OwnedChain(rule.table(), rule.target())))
                .toList();
        if (!blocking.isEmpty()) {
            throw new CaptureException(family.label() + ": rules outside the agent's chains jump into chains the "
                    + "agent must remove; remove these first: " + blocking);
        }
        String script = RestoreScript.replace(previous, desired);
        if (script.isEmpty()) {
            return;
        }
        String restore = backend.program(family, "restore");
        List<String> args = List.of("--noflush", "--wait=" + tools.lockWaitSeconds());
        // iptables-restore commits table by table, each whole or not at all (nft: one netlink batch per COMMIT;
        // legacy: one table replace), so a script of one table needs no --test run first: if it fails, nothing
        // changed. Only a script of several tables (TPROXY: mangle and nat) could fail after committing some, so
        // only that one is tried with --test first. Each run of either costs a kernel commit (about 15 ms on nft
        // here), the largest part of an apply. Istio does no --test at all: one iptables-restore --noflush per
        // family after reading the state (istio/istio tools/istio-iptables/pkg/capture/run.go, executeCommands,
        // 1.2x).
        boolean severalTables = RestoreScript.tables(script) > 1;
        if (severalTables) {
            List<String> testArgs = List.of("--noflush", "--test", "--wait=" + tools.lockWaitSeconds());
            CommandRunner.Result test = restore(restore, testArgs, script);
            if (test.exitCode() == NetfilterTools.RESOURCE_PROBLEM) {
                throw lockHeld(family, test);
            }
            if (!test.ok()) {
                throw new CaptureException(family.label() + " rules rejected by " + restore + " --test, nothing "
                        + "changed: " + test.describe() + "\n" + numbered(script));
            }
        }
        CommandRunner.Result real = restore(restore, args, script);
        if (!real.ok()) {
            if (real.exitCode() == NetfilterTools.RESOURCE_PROBLEM) {
                throw lockHeld(family, real);
            }
            // Even for one table, read back rather than assume: the rules must be as they were.
            String rollback = rollBack(family, previous, restore, args);
            throw new CaptureException(family.label() + " rules not applied: " + real.describe() + "; " + rollback
                    + (severalTables ? "" : "\n" + numbered(script)));
        }
    }

    private CaptureException lockHeld(IpFamily family, CommandRunner.Result result) {
        return new CaptureException(family.label() + ": another program held the xtables lock for longer than "
                + tools.lockWaitSeconds() + " s; nothing changed: " + result.describe());
    }

    /** Puts {@code previous} back if the failed transaction changed anything; says what it found. */
    private String rollBack(IpFamily family, SavedRules previous, String restore, List<String> args) {
        try {
            SavedRules now = save(family, false).orElseThrow();
            if (now.saveLines().equals(previous.saveLines())) {
                return "the previous rules are unchanged";
            }
            CommandRunner.Result undo = restore(restore, args,
                    RestoreScript.replace(now, previous.asCaptureRules()));
            return undo.ok() ? "the transaction was partly applied and the previous rules were restored"
                    : "ALSO FAILED to restore the previous rules: " + undo.describe();
        } catch (CaptureException e) {
            return "ALSO FAILED to check the previous rules: " + e.getMessage();
        }
    }

    private CommandRunner.Result restore(String program, List<String> args, String script) throws CaptureException {
        try {
            return tools.run(program, args, script);
        } catch (IOException e) {
            throw new CaptureException("cannot run " + program + ": " + e.getMessage(), e);
        }
    }

    private static String numbered(String script) {
        StringBuilder out = new StringBuilder();
        String[] lines = script.split("\n");
        for (int i = 0; i < lines.length; i++) {
            out.append(String.format("%4d  %s%n", i + 1, lines[i]));
        }
        return out.toString();
    }
}
