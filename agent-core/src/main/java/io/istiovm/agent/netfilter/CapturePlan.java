package io.istiovm.agent.netfilter;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything the agent installs for traffic capture: rules per address family, the TPROXY policy routes, and
 * one line per family saying why it has no rules when it has none. Pure data, printed by {@code iptables plan}.
 */
public record CapturePlan(CaptureRules ipv4, CaptureRules ipv6, Optional<TproxyRoute> tproxyRoute,
                          boolean ipv6PassthroughAddress, CaptureHost host, List<String> notes) {

    /** The address Envoy's inbound passthrough binds to for IPv6 (Istio adds it to lo: {@code ip -6 addr add}). */
    public static final String IPV6_PASSTHROUGH_ADDRESS = "::6/128";

    /** {@code ip rule add fwmark MARK lookup TABLE} plus {@code ip route replace local default dev lo table TABLE}. */
    public record TproxyRoute(long mark, long table) {
    }

    public CapturePlan {
        Objects.requireNonNull(ipv4, "ipv4");
        Objects.requireNonNull(ipv6, "ipv6");
        Objects.requireNonNull(tproxyRoute, "tproxyRoute");
        notes = List.copyOf(notes);
        if (ipv4.family() != IpFamily.IPV4 || ipv6.family() != IpFamily.IPV6) {
            throw new IllegalArgumentException("rules of the wrong family");
        }
    }

    public CaptureRules rules(IpFamily family) {
        return family == IpFamily.IPV4 ? ipv4 : ipv6;
    }

    public boolean isEmpty() {
        return ipv4.isEmpty() && ipv6.isEmpty();
    }

    /** True when {@code other} installs exactly the same chains, rules and routes (host facts and notes aside). */
    public boolean installsSameAs(CapturePlan other) {
        return ipv4.equals(other.ipv4) && ipv6.equals(other.ipv6) && tproxyRoute.equals(other.tproxyRoute)
                && ipv6PassthroughAddress == other.ipv6PassthroughAddress;
    }

    /** How many rules the plan installs, both families. */
    public int ruleCount() {
        return ipv4.rules().size() + ipv6.rules().size();
    }

    /** The text {@code iptables plan} prints and the golden files hold. */
    public String render() {
        StringBuilder out = new StringBuilder();
        out.append("# istio-vm-agent traffic capture plan: the desired state. `iptables apply` replaces the agent's\n")
                .append("# chains and jumps with it in one iptables-restore --noflush transaction per family.\n");
        out.append("# host: ssh ports ").append(join(host.sshPorts())).append("; proxy uid ").append(host.proxyUid())
                .append(" gid ").append(host.proxyGid()).append("; agent gid ")
                .append(host.agentGid().isPresent() ? Long.toString(host.agentGid().getAsLong()) : "(none)")
                .append('\n');
        for (String note : notes) {
            out.append("# ").append(note).append('\n');
        }
        for (IpFamily family : IpFamily.values()) {
            CaptureRules rules = rules(family);
            out.append('\n');
            if (rules.isEmpty()) {
                out.append("# ").append(family.label()).append(": no rules\n");
                continue;
            }
            out.append("# ").append(family.label()).append(": ").append(family.toolPrefix())
                    .append("-restore --noflush\n");
            out.append(rules.render());
            if (tproxyRoute.isPresent() && rules.tables().contains("mangle")) {
                TproxyRoute route = tproxyRoute.get();
                String flag = family == IpFamily.IPV4 ? "-4" : "-6";
                out.append("# routing: ip ").append(flag).append(" rule add fwmark ").append(route.mark())
                        .append(" lookup ").append(route.table()).append('\n');
                out.append("# routing: ip ").append(flag).append(" route replace local default dev lo table ")
                        .append(route.table()).append('\n');
            }
            if (family == IpFamily.IPV6 && ipv6PassthroughAddress) {
                out.append("# address: ip -6 addr add ").append(IPV6_PASSTHROUGH_ADDRESS).append(" dev lo\n");
            }
        }
        return out.toString();
    }

    private static String join(List<Integer> ports) {
        return String.join(",", ports.stream().map(String::valueOf).toList());
    }
}
