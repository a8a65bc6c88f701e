package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.Cidr;
import io.istiovm.agent.config.CidrList;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.PortList;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds the capture rules from the capture settings and the host facts. Istio's chains and semantics: the rule
 * shapes of istio-iptables 1.5+, 1.8's inbound port and environment keys (ISTIO_OUTBOUND_PORTS, PROXY_UID/GID),
 * 1.9's TPROXY rules (the mark RETURN, the CONNMARK save/restore pair and the conntrack match instead of
 * {@code -m socket}), 1.8/1.9's choice of address families (IPv6 only for an IPv6 workload) and the interface
 * exclusion of later versions. The agent's deliberate differences are in README ("Traffic capture"): SSH is never
 * captured, the agent's own group is exempt instead of all of root, the hosts block's VIPs are captured, and
 * excluded interfaces return from the agent's chains rather than from the built-in ones.
 */
public final class CapturePlanner {
    public static final String INBOUND = "ISTIO_INBOUND";
    public static final String IN_REDIRECT = "ISTIO_IN_REDIRECT";
    public static final String REDIRECT = "ISTIO_REDIRECT";
    public static final String OUTPUT = "ISTIO_OUTPUT";
    public static final String DIVERT = "ISTIO_DIVERT";
    public static final String TPROXY = "ISTIO_TPROXY";
    /** The chain names the agent owns (also when istio-iptables.sh created them: the agent takes them over). */
    public static final Set<String> OWNED_CHAIN_NAMES = Set.of(INBOUND, IN_REDIRECT, REDIRECT, OUTPUT, DIVERT,
            TPROXY);
    /** Envoy's admin port; never captured inbound in `*` mode. */
    private static final int ENVOY_ADMIN_PORT = 15000;

    private static final InetAddress IPV4_LOCALHOST = address(new byte[] {127, 0, 0, 1});
    private static final InetAddress IPV6_LOCALHOST = address(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            1});

    private static final String NAT = "nat";
    private static final String MANGLE = "mangle";

    private CapturePlanner() {
    }

    /**
     * The plan for this host, with its facts (sshd's ports, the proxy user, the agent's group) read from
     * {@code etc} and the sshd configuration: what the running agent installs and {@code iptables plan} prints.
     */
    public static CapturePlan forHost(CaptureSettings settings, Path etc) throws IOException, ConfigException {
        return plan(settings, CaptureHost.read(settings, etc));
    }

    /**
     * The plan, or a configuration error (with file, line and key) when the settings would lock out SSH or send
     * connections to localhost into Envoy.
     */
    public static CapturePlan plan(CaptureSettings settings, CaptureHost host) throws ConfigException {
        List<String> notes = new ArrayList<>();
        if (settings.operatorManaged()) {
            notes.add("ISTIO_CUSTOM_IP_TABLES=true: the operator manages netfilter; the agent installs no rules");
            return new CapturePlan(CaptureRules.none(IpFamily.IPV4), CaptureRules.none(IpFamily.IPV6),
                    Optional.empty(), false, host, notes);
        }
        rejectSshCapture(settings, host);
        rejectLocalhostCapture(settings);

        boolean ipv6Workload = settings.ipv6Workload();
        boolean explicitIpv6 = !settings.serviceCidr().ipv6().isEmpty();
        notes.add("workload address (ISTIO_SVC_IP): " + settings.workloadAddress().map(IpAddresses::format)
                .orElse("(none)") + (ipv6Workload ? ", IPv6: Envoy listens on IPv6, both families are captured"
                : ", IPv4: Envoy listens on IPv4 only, so IPv6 is "
                        + (explicitIpv6 ? "captured only for the IPv6 ranges of ISTIO_SERVICE_CIDR (Envoy must "
                                + "listen on IPv6 for them: a dual-stack mesh)" : "not captured (Istio 1.8/1.9: "
                                + "IPv6 rules only for an IPv6 workload), whatever addresses the host has")));
        for (Cidr loopback : loopbackRanges(settings.serviceCidr().cidrs())) {
            notes.add("ISTIO_SERVICE_CIDR " + loopback + " is a loopback range: redirected before the loopback "
                    + "RETURN (in Istio's order that rule would never match)");
        }
        List<String> vips = new ArrayList<>();
        for (IpFamily family : IpFamily.values()) {
            vips(settings, family).forEach(vip -> vips.add(vip.toString()));
        }
        if (!vips.isEmpty()) {
            notes.add("VIPs of the hosts block, captured whatever ISTIO_SERVICE_CIDR says: " + String.join(", ", vips));
        }
        if (!settings.excludeInterfaces().isEmpty()) {
            notes.add("ISTIO_EXCLUDE_INTERFACES: nothing arriving on or sent through "
                    + String.join(", ", settings.excludeInterfaces()) + " is captured");
        }
        CaptureRules v4 = forFamily(IpFamily.IPV4, settings, host);
        CaptureRules v6 = forFamily(IpFamily.IPV6, settings, host);
        boolean anyMangle = v4.tables().contains(MANGLE) || v6.tables().contains(MANGLE);
        Optional<CapturePlan.TproxyRoute> route = anyMangle ? Optional.of(settings.tproxyRoute()) : Optional.empty();
        // Istio 1.8/1.9 add ::6 (the source Envoy's inbound passthrough binds to) to lo for an IPv6 workload.
        return new CapturePlan(v4, v6, route, ipv6Workload && !v6.isEmpty(), host, notes);
    }

    private static void rejectSshCapture(CaptureSettings settings, CaptureHost host) throws ConfigException {
        PortList inbound = settings.inboundPorts();
        for (int ssh : host.sshPorts()) {
            if (!inbound.isAll() && inbound.ports().contains(ssh)) {
                throw new ConfigException(List.of(settings.inboundPortsOrigin().error("port " + ssh
                        + " is sshd's port (from " + settings.sshdConfig()
                        + " or the default 22); capturing SSH would lock operators out of the VM")));
            }
        }
    }

    /**
     * A loopback range is redirected before the loopback RETURN (see {@link #loopbackRanges}); one that holds the
     * localhost address itself would send every connection to 127.0.0.1 (Envoy's admin port, local services, the
     * applications' own sidecar-aware calls) into Envoy, so it is refused.
     */
    private static void rejectLocalhostCapture(CaptureSettings settings) throws ConfigException {
        for (Cidr cidr : loopbackRanges(settings.serviceCidr().cidrs())) {
            InetAddress localhost = cidr.isIpv6() ? IPV6_LOCALHOST : IPV4_LOCALHOST;
            if (cidr.contains(localhost)) {
                throw new ConfigException(List.of(settings.serviceCidrOrigin().error(cidr + " holds "
                        + IpAddresses.format(localhost) + ": every connection to localhost (Envoy's admin port, "
                        + "local services) would go to Envoy; list the loopback addresses to capture (e.g. "
                        + "127.1.2.3/32) instead")));
            }
        }
    }

    private static InetAddress address(byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The ranges of {@code cidrs} inside the loopback network (127.0.0.0/8, ::1). */
    private static List<Cidr> loopbackRanges(List<Cidr> cidrs) {
        return cidrs.stream().filter(c -> c.network().isLoopbackAddress()).toList();
    }

    /** The hosts block's addresses of {@code family} inside VM_AGENT_GLOBAL_VIP_CIDR, as host routes, sorted. */
    private static List<Cidr> vips(CaptureSettings settings, IpFamily family) {
        Set<String> seen = new TreeSet<>();
        List<Cidr> out = new ArrayList<>();
        settings.hostsAddresses().stream()
                .filter(a -> (a instanceof Inet6Address) == (family == IpFamily.IPV6))
                .filter(a -> settings.globalVipCidr().cidrs().stream().anyMatch(c -> c.contains(a)))
                .sorted(Comparator.comparing(InetAddress::getAddress, Arrays::compareUnsigned))
                .forEach(a -> {
                    String text = IpAddresses.format(a) + (a instanceof Inet6Address ? "/128" : "/32");
                    if (seen.add(text)) {
                        try {
                            out.add(Cidr.parse(text));
                        } catch (InvalidValueException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
        return out;
    }

    private static CaptureRules forFamily(IpFamily family, CaptureSettings settings, CaptureHost host) {
        PortList inbound = settings.inboundPorts();
        CidrList service = settings.serviceCidr();
        CidrList excluded = settings.serviceExcludeCidr();
        boolean tproxy = settings.inboundMode() == CaptureSettings.InboundMode.TPROXY;
        boolean v4 = family == IpFamily.IPV4;
        // Envoy listens on a family only when istiod builds listeners for it: IPv4 always, IPv6 for an IPv6
        // workload. IPv6 ranges listed explicitly are still captured (the operator's word), nothing else of IPv6.
        boolean envoyListens = v4 || settings.ipv6Workload();
        List<Cidr> allServiceRanges = v4 ? service.ipv4() : service.ipv6();
        List<Cidr> loopbackService = loopbackRanges(allServiceRanges);
        List<Cidr> serviceRanges = allServiceRanges.stream().filter(c -> !loopbackService.contains(c)).toList();
        List<Cidr> allExcluded = v4 ? excluded.ipv4() : excluded.ipv6();
        List<Cidr> loopbackExcluded = loopbackRanges(allExcluded);
        List<Cidr> excludedRanges = allExcluded.stream().filter(c -> !loopbackExcluded.contains(c)).toList();
        List<Cidr> vipRanges = envoyListens ? vips(settings, family) : List.of();
        List<Integer> outboundPorts = envoyListens ? settings.outboundPorts().ports() : List.of();
        boolean captureInbound = !inbound.isEmpty() && envoyListens;
        boolean captureAll = service.isAll() && envoyListens;
        boolean captureOutbound = captureAll || !allServiceRanges.isEmpty() || !vipRanges.isEmpty()
                || !outboundPorts.isEmpty();
        if (!captureInbound && !captureOutbound) {
            return CaptureRules.none(family);
        }
        boolean loopbackToInbound = captureOutbound && settings.loopbackToInbound();
        long mark = settings.tproxyRoute().mark();
        Set<CaptureRules.OwnedChain> chains = new LinkedHashSet<>();
        List<Rule> rules = new ArrayList<>();

        if (captureInbound && !tproxy || loopbackToInbound) {
            chains.add(new CaptureRules.OwnedChain(NAT, IN_REDIRECT));
            rules.add(RuleBuilder.in(NAT, IN_REDIRECT).tcp().jump("REDIRECT --to-ports "
                    + settings.inboundCapturePort()));
        }
        if (captureInbound) {
            String table = tproxy ? MANGLE : NAT;
            String target = tproxy ? TPROXY : IN_REDIRECT;
            chains.add(new CaptureRules.OwnedChain(table, INBOUND));
            rules.add(RuleBuilder.in(table, "PREROUTING").tcp().jump(INBOUND));
            if (tproxy) {
                // Istio 1.9: a packet Envoy sent with the mark (original_src to the application over lo) is not
                // diverted again; its connection keeps the mark, which OUTPUT restores on the application's
                // replies so that policy routing brings them back to Envoy instead of out to the client.
                rules.add(RuleBuilder.in(MANGLE, INBOUND).tcp().packetMark(mark).jump("RETURN"));
                rules.add(RuleBuilder.in(MANGLE, "PREROUTING").tcp().packetMark(mark)
                        .jump("CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff"));
                rules.add(RuleBuilder.in(MANGLE, "OUTPUT").tcp().connectionMark(mark)
                        .jump("CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"));
            }
            for (String name : settings.excludeInterfaces()) {
                rules.add(RuleBuilder.in(table, INBOUND).inInterface(name).jump("RETURN"));
            }
            for (int ssh : host.sshPorts()) {
                rules.add(RuleBuilder.in(table, INBOUND).destinationPort(ssh).jump("RETURN"));
            }
            if (tproxy) {
                String hexMark = "0x" + Long.toHexString(mark) + "/0xffffffff";
                chains.add(new CaptureRules.OwnedChain(MANGLE, DIVERT));
                chains.add(new CaptureRules.OwnedChain(MANGLE, TPROXY));
                rules.add(RuleBuilder.in(MANGLE, DIVERT).jump("MARK --set-xmark " + hexMark));
                rules.add(RuleBuilder.in(MANGLE, DIVERT).jump("ACCEPT"));
                rules.add(RuleBuilder.in(MANGLE, TPROXY).notDestination(family.localhost()).tcp()
                        .jump("TPROXY --on-port " + settings.inboundCapturePort() + " --on-ip "
                                + family.anyAddress() + " --tproxy-mark " + hexMark));
            }
            if (inbound.isAll()) {
                Set<Integer> ownPorts = new LinkedHashSet<>(List.of(ENVOY_ADMIN_PORT));
                ownPorts.addAll(settings.ownPorts());
                ownPorts.addAll(settings.localExcludePorts().ports());
                host.sshPorts().forEach(ownPorts::remove);
                for (int port : ownPorts) {
                    rules.add(RuleBuilder.in(table, INBOUND).destinationPort(port).jump("RETURN"));
                }
                if (tproxy) {
                    // Istio 1.6+: packets of established connections are delivered, new ones go to TPROXY. (The
                    // older -m socket match needed xt_socket and let an application bound to the address take a
                    // new connection past Envoy.)
                    rules.add(RuleBuilder.in(table, INBOUND).tcp().established().jump(DIVERT));
                }
                rules.add(RuleBuilder.in(table, INBOUND).tcp().jump(target));
            } else {
                for (int port : inbound.ports()) {
                    if (tproxy) {
                        rules.add(RuleBuilder.in(table, INBOUND).destinationPort(port).established().jump(DIVERT));
                    }
                    rules.add(RuleBuilder.in(table, INBOUND).destinationPort(port).jump(target));
                }
            }
        }
        if (captureOutbound) {
            chains.add(new CaptureRules.OwnedChain(NAT, REDIRECT));
            chains.add(new CaptureRules.OwnedChain(NAT, OUTPUT));
            rules.add(RuleBuilder.in(NAT, REDIRECT).tcp().jump("REDIRECT --to-ports " + settings.envoyPort()));
            rules.add(RuleBuilder.in(NAT, "OUTPUT").tcp().jump(OUTPUT));
            for (String name : settings.excludeInterfaces()) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).outInterface(name).jump("RETURN"));
            }
            for (int port : settings.outboundPortsExclude().ports()) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destinationPort(port).jump("RETURN"));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).source(family.inboundPassthroughSource()).outInterface("lo")
                    .jump("RETURN"));
            if (host.agentGid().isPresent() && host.agentGid().getAsLong() != host.proxyGid()) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).gidOwner(host.agentGid().getAsLong(), false).jump("RETURN"));
            }
            if (loopbackToInbound) {
                // Only the proxy's uid, as Istio 1.5-1.9: their gid variant follows `-o lo ! --uid-owner U -j
                // RETURN` and so never matches; redirecting by gid here would send a process that merely has the
                // proxy's group back into Envoy's inbound path.
                rules.add(RuleBuilder.in(NAT, OUTPUT).notDestination(family.localhost()).outInterface("lo")
                        .uidOwner(host.proxyUid(), false).jump(IN_REDIRECT));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).uidOwner(host.proxyUid(), false).jump("RETURN"));
            rules.add(RuleBuilder.in(NAT, OUTPUT).gidOwner(host.proxyGid(), false).jump("RETURN"));
            for (Cidr cidr : loopbackExcluded) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(cidr.toString()).jump("RETURN"));
            }
            for (Cidr vip : vipRanges) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(vip.toString()).jump(REDIRECT));
            }
            for (Cidr cidr : loopbackService) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(cidr.toString()).jump(REDIRECT));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).outInterface("lo").jump("RETURN"));
            for (Cidr cidr : excludedRanges) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(cidr.toString()).jump("RETURN"));
            }
            for (int port : outboundPorts) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destinationPort(port).jump(REDIRECT));
            }
            if (captureAll) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).jump(REDIRECT));
            } else {
                for (Cidr cidr : serviceRanges) {
                    rules.add(RuleBuilder.in(NAT, OUTPUT).destination(cidr.toString()).jump(REDIRECT));
                }
            }
        }
        return new CaptureRules(family, List.copyOf(chains), rules);
    }
}
