package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The IPv6 address Envoy's inbound passthrough binds to (::6, as 127.0.0.6 for IPv4, which the whole of
 * 127.0.0.0/8 on lo already covers). Istio 1.8/1.9 run {@code ip -6 addr add ::6/128 dev lo} for an IPv6 workload;
 * the agent adds it when missing and, as Istio, never removes it (other software may bind it too, and it routes
 * nowhere).
 */
final class PassthroughAddress {
    private PassthroughAddress() {
    }

    static void apply(NetfilterTools tools, CapturePlan plan) throws CaptureException {
        if (plan.ipv6PassthroughAddress() && !present(tools)) {
            CommandRunner.Result added = ip(tools, "-6", "addr", "add", CapturePlan.IPV6_PASSTHROUGH_ADDRESS, "dev",
                    "lo");
            if (!added.ok() && !present(tools)) {
                throw new CaptureException("cannot add " + CapturePlan.IPV6_PASSTHROUGH_ADDRESS + " to lo: "
                        + added.describe());
            }
        }
    }

    /** A drift line when the plan wants the address and lo lacks it. */
    static List<Drift.Line> missing(NetfilterTools tools, CapturePlan plan) throws CaptureException {
        List<Drift.Line> lines = new ArrayList<>();
        if (plan.ipv6PassthroughAddress() && !present(tools)) {
            lines.add(new Drift.Line(IpFamily.IPV6, "address", true, "ip -6 addr " + CapturePlan.IPV6_PASSTHROUGH_ADDRESS
                    + " dev lo"));
        }
        return lines;
    }

    private static boolean present(NetfilterTools tools) throws CaptureException {
        CommandRunner.Result shown = ip(tools, "-6", "addr", "show", "dev", "lo");
        return shown.ok() && shown.stdout().contains(" ::6/128 ");
    }

    private static CommandRunner.Result ip(NetfilterTools tools, String... args) throws CaptureException {
        try {
            return tools.runOnPath("ip", List.of(args));
        } catch (IOException e) {
            throw new CaptureException("cannot run ip: " + e.getMessage(), e);
        }
    }
}
