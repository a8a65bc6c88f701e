package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.CidrList;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.PortList;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.config.UserRef;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Everything traffic capture reads from the configuration, validated: what to capture (ports, ranges, mode), the
 * ports and users that are never captured, where to read the host facts, and how the running agent keeps the rules
 * (backend, verify interval, start order). Built by the assembly from the configuration; tests build it the same way.
 *
 * @param operatorManaged ISTIO_CUSTOM_IP_TABLES: the operator owns netfilter, the plan has no rules
 * @param inboundPorts ISTIO_INBOUND_PORTS, with {@code inboundPortsOrigin} naming where it was set
 * @param inboundMode ISTIO_INBOUND_INTERCEPTION_MODE
 * @param tproxyRoute ISTIO_INBOUND_TPROXY_MARK and ISTIO_INBOUND_TPROXY_ROUTE_TABLE (used in TPROXY mode only)
 * @param inboundCapturePort INBOUND_CAPTURE_PORT, Envoy's inbound listener
 * @param localExcludePorts ISTIO_LOCAL_EXCLUDE_PORTS, left alone when every inbound port is captured
 * @param ownPorts Envoy's status and Prometheus ports and the agent's status port, never captured inbound in "*" mode
 * @param serviceCidr ISTIO_SERVICE_CIDR
 * @param serviceExcludeCidr ISTIO_SERVICE_EXCLUDE_CIDR
 * @param globalVipCidr VM_AGENT_GLOBAL_VIP_CIDR
 * @param outboundPortsExclude ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE
 * @param envoyPort ENVOY_PORT, Envoy's outbound listener
 * @param loopbackToInbound not DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK
 * @param sshdConfig VM_AGENT_SSHD_CONFIG, read for the SSH ports that are never captured
 * @param envoyUser ENVOY_USER, whose traffic is never captured
 * @param agentGroup VM_AGENT_GROUP, whose traffic is never captured
 * @param backend VM_AGENT_IPTABLES_BACKEND: {@code auto}, {@code nft} or {@code legacy}
 * @param verifyInterval VM_AGENT_CAPTURE_VERIFY_INTERVAL
 * @param failClosed VM_AGENT_CAPTURE_FAIL_CLOSED: rules before Envoy starts, instead of once Envoy is LIVE
 * @param workloadAddress ISTIO_SVC_IP, the address istiod gives Envoy's listeners (INSTANCE_IPS): its family
 *                        decides whether Envoy listens on IPv6 at all
 * @param serviceCidrOrigin where ISTIO_SERVICE_CIDR was set, for errors about its ranges
 * @param outboundPorts ISTIO_OUTBOUND_PORTS (Istio 1.8): destination ports always redirected
 * @param excludeInterfaces ISTIO_EXCLUDE_INTERFACES: interfaces whose traffic is never captured
 * @param proxyUid PROXY_UID (Istio 1.8), instead of ENVOY_USER's uid, with {@code proxyUidOrigin}
 * @param proxyGid PROXY_GID (Istio 1.8), instead of ENVOY_USER's gid
 * @param hostsAddresses every address of the agent's hosts block; those inside {@code globalVipCidr} are the VIPs
 *                       it hands out, captured whatever ISTIO_SERVICE_CIDR says
 */
public record CaptureSettings(boolean operatorManaged, PortList inboundPorts, Origin inboundPortsOrigin,
                              InboundMode inboundMode, CapturePlan.TproxyRoute tproxyRoute, int inboundCapturePort,
                              PortList localExcludePorts, List<Integer> ownPorts, CidrList serviceCidr,
                              CidrList serviceExcludeCidr, CidrList globalVipCidr, PortList outboundPortsExclude,
                              int envoyPort, boolean loopbackToInbound, Path sshdConfig, UserRef envoyUser,
                              UserRef agentGroup, String backend, Duration verifyInterval, boolean failClosed,
                              Optional<InetAddress> workloadAddress, Origin serviceCidrOrigin,
                              PortList outboundPorts, List<String> excludeInterfaces, OptionalLong proxyUid,
                              OptionalLong proxyGid, Origin proxyUidOrigin, List<InetAddress> hostsAddresses) {

    /** How inbound connections reach Envoy. */
    public enum InboundMode { REDIRECT, TPROXY }

    /** Where a value was set and as what, so that a problem found with the host's facts names file, line and key. */
    public record Origin(String key, String raw, Source source) {
        public Origin {
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(source, "source");
        }

        ConfigProblem error(String reason) {
            return ConfigProblem.error(source, key, raw, reason);
        }
    }

    public CaptureSettings {
        Objects.requireNonNull(inboundPorts, "inboundPorts");
        Objects.requireNonNull(inboundPortsOrigin, "inboundPortsOrigin");
        Objects.requireNonNull(inboundMode, "inboundMode");
        Objects.requireNonNull(tproxyRoute, "tproxyRoute");
        Objects.requireNonNull(localExcludePorts, "localExcludePorts");
        ownPorts = List.copyOf(ownPorts);
        Objects.requireNonNull(serviceCidr, "serviceCidr");
        Objects.requireNonNull(serviceExcludeCidr, "serviceExcludeCidr");
        Objects.requireNonNull(globalVipCidr, "globalVipCidr");
        Objects.requireNonNull(outboundPortsExclude, "outboundPortsExclude");
        Objects.requireNonNull(sshdConfig, "sshdConfig");
        Objects.requireNonNull(envoyUser, "envoyUser");
        Objects.requireNonNull(agentGroup, "agentGroup");
        Objects.requireNonNull(verifyInterval, "verifyInterval");
        Objects.requireNonNull(workloadAddress, "workloadAddress");
        Objects.requireNonNull(serviceCidrOrigin, "serviceCidrOrigin");
        Objects.requireNonNull(outboundPorts, "outboundPorts");
        if (outboundPorts.isAll()) {
            throw new IllegalArgumentException("outboundPorts cannot be '*'");
        }
        excludeInterfaces = List.copyOf(excludeInterfaces);
        Objects.requireNonNull(proxyUid, "proxyUid");
        Objects.requireNonNull(proxyGid, "proxyGid");
        Objects.requireNonNull(proxyUidOrigin, "proxyUidOrigin");
        hostsAddresses = List.copyOf(hostsAddresses);
        requirePort(inboundCapturePort, "inboundCapturePort");
        requirePort(envoyPort, "envoyPort");
        ownPorts.forEach(port -> requirePort(port, "ownPorts"));
        if (!List.of("auto", "nft", "legacy").contains(backend)) {
            throw new IllegalArgumentException("backend must be auto, nft or legacy: " + backend);
        }
        if (verifyInterval.isNegative() || verifyInterval.isZero()) {
            throw new IllegalArgumentException("verifyInterval must be positive: " + verifyInterval);
        }
    }

    /** These settings with the hosts block's addresses as they are now (the block changes while the agent runs). */
    public CaptureSettings withHostsAddresses(List<InetAddress> addresses) {
        return new CaptureSettings(operatorManaged, inboundPorts, inboundPortsOrigin, inboundMode, tproxyRoute,
                inboundCapturePort, localExcludePorts, ownPorts, serviceCidr, serviceExcludeCidr, globalVipCidr,
                outboundPortsExclude, envoyPort, loopbackToInbound, sshdConfig, envoyUser, agentGroup, backend,
                verifyInterval, failClosed, workloadAddress, serviceCidrOrigin, outboundPorts, excludeInterfaces,
                proxyUid, proxyGid, proxyUidOrigin, addresses);
    }

    /**
     * True when Envoy listens on IPv6: istiod builds its listeners for the workload's address family (Istio
     * 1.8/1.9 enable IPv6 capture exactly when the workload's address is IPv6), so an IPv4 workload on a host that
     * also has a global or ULA IPv6 address gets IPv4 listeners only.
     */
    public boolean ipv6Workload() {
        return workloadAddress.map(a -> a instanceof Inet6Address).orElse(false);
    }

    /**
     * The policy route TPROXY mode uses, none in REDIRECT mode. A plan installs it only when some family has
     * mangle rules ({@link CapturePlan#tproxyRoute}); this is for removing it without a plan ({@code iptables clean}).
     */
    public Optional<CapturePlan.TproxyRoute> configuredRoute() {
        return inboundMode == InboundMode.TPROXY ? Optional.of(tproxyRoute) : Optional.empty();
    }

    private static void requirePort(int port, String what) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException(what + ": port " + port + " outside 1-65535");
        }
    }
}
