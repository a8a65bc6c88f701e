package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.Cidr;
import io.istiovm.agent.config.CidrList;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.HostFacts;
import io.istiovm.agent.config.PortList;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Builds the capture rules from the capture settings and the host facts. Istio's chains and semantics (1.5+ rule
 * shapes, 1.8's inbound port), with the agent's deliberate differences (README, "Traffic capture"): SSH is never
 * captured, the agent's own group is exempt instead of all of root, {@code *.global} VIPs are captured, and
 * IPv6 gets rules only when it is in use and never a blanket reject.
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

    private static final String NAT = "nat";
    private static final String MANGLE = "mangle";

    private CapturePlanner() {
    }

    /**
     * The plan for this host, with its facts (sshd's ports, the proxy user, the agent's group) read from
     * {@code etc} and the sshd configuration: what the running agent installs and {@code iptables plan} prints.
     */
    public static CapturePlan forHost(CaptureSettings settings, HostFacts facts, Path etc)
            throws IOException, ConfigException {
        return plan(settings, CaptureHost.read(settings, facts, etc));
    }

    /** The plan, or a configuration error (with file, line and key) when the settings would lock out SSH. */
    public static CapturePlan plan(CaptureSettings settings, CaptureHost host) throws ConfigException {
        List<String> notes = new ArrayList<>();
        if (settings.operatorManaged()) {
            notes.add("ISTIO_CUSTOM_IP_TABLES=true: the operator manages netfilter; the agent installs no rules");
            return new CapturePlan(CaptureRules.none(IpFamily.IPV4), CaptureRules.none(IpFamily.IPV6),
                    Optional.empty(), host, notes);
        }
        rejectSshCapture(settings, host);

        CidrList service = settings.serviceCidr();
        CidrList excluded = settings.serviceExcludeCidr();
        boolean configHasIpv6 = !service.ipv6().isEmpty() || !excluded.ipv6().isEmpty();
        boolean ipv6 = configHasIpv6 || host.globalIpv6();
        if (!ipv6) {
            notes.add("IPv6: no rules, because the configuration has no IPv6 range and the host has no global "
                    + "IPv6 address (and never a blanket reject of inbound IPv6)");
        }
        CaptureRules v4 = forFamily(IpFamily.IPV4, settings, host);
        CaptureRules v6 = ipv6 ? forFamily(IpFamily.IPV6, settings, host) : CaptureRules.none(IpFamily.IPV6);
        boolean anyMangle = v4.tables().contains(MANGLE) || v6.tables().contains(MANGLE);
        Optional<CapturePlan.TproxyRoute> route = anyMangle ? Optional.of(settings.tproxyRoute()) : Optional.empty();
        return new CapturePlan(v4, v6, route, host, notes);
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

    private static CaptureRules forFamily(IpFamily family, CaptureSettings settings, CaptureHost host) {
        PortList inbound = settings.inboundPorts();
        CidrList service = settings.serviceCidr();
        CidrList excluded = settings.serviceExcludeCidr();
        CidrList vips = settings.globalVipCidr();
        boolean tproxy = settings.inboundMode() == CaptureSettings.InboundMode.TPROXY;
        List<Cidr> serviceRanges = family == IpFamily.IPV4 ? service.ipv4() : service.ipv6();
        List<Cidr> excludedRanges = family == IpFamily.IPV4 ? excluded.ipv4() : excluded.ipv6();
        List<Cidr> vipRanges = family == IpFamily.IPV4 ? vips.ipv4() : vips.ipv6();
        boolean captureInbound = !inbound.isEmpty();
        boolean captureOutbound = service.isAll() || !serviceRanges.isEmpty();
        if (!captureInbound && !captureOutbound) {
            return CaptureRules.none(family);
        }
        boolean loopbackToInbound = captureOutbound && settings.loopbackToInbound();
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
            for (int ssh : host.sshPorts()) {
                rules.add(RuleBuilder.in(table, INBOUND).destinationPort(ssh).jump("RETURN"));
            }
            if (tproxy) {
                long mark = settings.tproxyRoute().mark();
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
                    rules.add(RuleBuilder.in(table, INBOUND).tcp().hasLocalSocket().jump(DIVERT));
                }
                rules.add(RuleBuilder.in(table, INBOUND).tcp().jump(target));
            } else {
                for (int port : inbound.ports()) {
                    if (tproxy) {
                        rules.add(RuleBuilder.in(table, INBOUND).destinationPort(port).hasLocalSocket().jump(DIVERT));
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
            for (int port : settings.outboundPortsExclude().ports()) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destinationPort(port).jump("RETURN"));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).source(family.inboundPassthroughSource()).outInterface("lo")
                    .jump("RETURN"));
            if (host.agentGid().isPresent() && host.agentGid().getAsLong() != host.proxyGid()) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).gidOwner(host.agentGid().getAsLong(), false).jump("RETURN"));
            }
            if (loopbackToInbound) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).notDestination(family.localhost()).outInterface("lo")
                        .uidOwner(host.proxyUid(), false).jump(IN_REDIRECT));
                rules.add(RuleBuilder.in(NAT, OUTPUT).notDestination(family.localhost()).outInterface("lo")
                        .gidOwner(host.proxyGid(), false).jump(IN_REDIRECT));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).uidOwner(host.proxyUid(), false).jump("RETURN"));
            rules.add(RuleBuilder.in(NAT, OUTPUT).gidOwner(host.proxyGid(), false).jump("RETURN"));
            for (Cidr vip : vipRanges) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(vip.toString()).jump(REDIRECT));
            }
            rules.add(RuleBuilder.in(NAT, OUTPUT).outInterface("lo").jump("RETURN"));
            for (Cidr cidr : excludedRanges) {
                rules.add(RuleBuilder.in(NAT, OUTPUT).destination(cidr.toString()).jump("RETURN"));
            }
            if (service.isAll()) {
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
