package io.istiovm.agent.ca;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.config.HostPort;
import java.time.Duration;

/**
 * Where and how to reach the CA: protocol, address, the name its serving certificate must carry, the request
 * deadline and the cluster this VM is registered in.
 */
public record CaEndpoint(Protocol protocol, HostPort address, String serverName, Duration timeout, String clusterId) {

    public enum Protocol {
        /** istio.v1.auth.IstioCertificateService/CreateCertificate (istiod, Istio 1.5+). */
        CREATE_CERTIFICATE,
        /** istio.v1.auth.IstioCAService/HandleCSR (Citadel, Istio 1.4). */
        HANDLE_CSR
    }

    /** The name 1.4 node agents used for Citadel's certificate (hence the /etc/hosts line). */
    public static final String CITADEL_SERVER_NAME = "istio-citadel";

    public static CaEndpoint fromConfig(AgentConfig config) {
        Duration timeout = config.get(ConfigKeys.VM_AGENT_CA_TIMEOUT);
        String clusterId = config.get(ConfigKeys.ISTIO_META_CLUSTER_ID);
        if (config.get(ConfigKeys.VM_AGENT_CA_PROTOCOL).equals("HandleCSR")) {
            return new CaEndpoint(Protocol.HANDLE_CSR, config.get(ConfigKeys.CITADEL_ADDRESS), CITADEL_SERVER_NAME,
                    timeout, clusterId);
        }
        return new CaEndpoint(Protocol.CREATE_CERTIFICATE, config.get(ConfigKeys.CA_ADDR),
                config.get(ConfigKeys.ISTIOD_SAN), timeout, clusterId);
    }

    @Override
    public String toString() {
        return (protocol == Protocol.HANDLE_CSR ? "IstioCAService/HandleCSR" : "IstioCertificateService/CreateCertificate")
                + " at " + address + " (server name " + serverName + ")";
    }
}
