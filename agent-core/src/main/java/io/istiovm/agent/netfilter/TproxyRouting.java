package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The policy routing TPROXY needs: packets carrying the mark are delivered locally through their own table.
 * Added only when missing, so repeated applies change nothing.
 */
final class TproxyRouting {
    private TproxyRouting() {
    }

    static void apply(NetfilterTools tools, CapturePlan plan) throws CaptureException {
        if (plan.tproxyRoute().isEmpty()) {
            return;
        }
        CapturePlan.TproxyRoute route = plan.tproxyRoute().get();
        for (IpFamily family : IpFamily.values()) {
            if (!plan.rules(family).tables().contains("mangle")) {
                continue;
            }
            String flag = flag(family);
            CommandRunner.Result rules = ip(tools, flag, "rule", "list", "fwmark", Long.toString(route.mark()),
                    "lookup", Long.toString(route.table()));
            if (rules.stdout().isBlank()) {
                require(ip(tools, flag, "rule", "add", "fwmark", Long.toString(route.mark()), "lookup",
                        Long.toString(route.table())));
            }
            require(ip(tools, flag, "route", "replace", "local", "default", "dev", "lo", "table",
                    Long.toString(route.table())));
        }
    }

    /** The policy rules and routes the plan needs but the kernel lacks, as drift lines of table "routing". */
    static List<Drift.Line> missing(NetfilterTools tools, CapturePlan plan) throws CaptureException {
        List<Drift.Line> lines = new ArrayList<>();
        if (plan.tproxyRoute().isEmpty()) {
            return lines;
        }
        CapturePlan.TproxyRoute route = plan.tproxyRoute().get();
        for (IpFamily family : IpFamily.values()) {
            if (!plan.rules(family).tables().contains("mangle")) {
                continue;
            }
            String flag = flag(family);
            String mark = Long.toString(route.mark());
            String table = Long.toString(route.table());
            if (ip(tools, flag, "rule", "list", "fwmark", mark, "lookup", table).stdout().isBlank()) {
                lines.add(new Drift.Line(family, "routing", true, "ip rule fwmark " + mark + " lookup " + table));
            }
            if (!ip(tools, flag, "route", "show", "table", table).stdout().contains("local default dev lo")) {
                lines.add(new Drift.Line(family, "routing", true, "ip route local default dev lo table " + table));
            }
        }
        return lines;
    }

    static void remove(NetfilterTools tools, Optional<CapturePlan.TproxyRoute> route) throws CaptureException {
        if (route.isPresent()) {
            removeUnused(tools, route.get(), Optional.empty());
        }
    }

    /** Removes the policy rule and route of {@code old} that {@code kept} (now installed) does not share. */
    static void removeUnused(NetfilterTools tools, CapturePlan.TproxyRoute old, Optional<CapturePlan.TproxyRoute> kept)
            throws CaptureException {
        for (IpFamily family : IpFamily.values()) {
            String flag = flag(family);
            String mark = Long.toString(old.mark());
            String table = Long.toString(old.table());
            // Each delete removes one matching rule; stop when none is left (or the family is unavailable).
            for (int i = 0; i < 16 && ip(tools, flag, "rule", "del", "fwmark", mark, "lookup", table).ok(); i++) {
                continue;
            }
            if (kept.isEmpty() || kept.get().table() != old.table()) {
                ip(tools, flag, "route", "del", "local", "default", "dev", "lo", "table", table);
            }
        }
    }

    private static String flag(IpFamily family) {
        return family == IpFamily.IPV4 ? "-4" : "-6";
    }

    private static CommandRunner.Result ip(NetfilterTools tools, String... args) throws CaptureException {
        try {
            List<String> command = List.of(args);
            return tools.runOnPath("ip", command);
        } catch (IOException e) {
            throw new CaptureException("cannot run ip: " + e.getMessage(), e);
        }
    }

    private static void require(CommandRunner.Result result) throws CaptureException {
        if (!result.ok()) {
            throw new CaptureException("TPROXY routing: " + result.describe());
        }
    }
}
