package io.istiovm.agent.ca;

import io.istiovm.agent.config.HostPort;
import java.time.Duration;
import java.util.Objects;

/**
 * Where and how to reach the CA: protocol, address, the name its serving certificate must carry, the request
 * deadline and the cluster this VM is registered in.
 */
public record CaEndpoint(Protocol protocol, HostPort address, String serverName, Duration timeout, String clusterId) {

    public enum Protocol {
        /** istio.v1.auth.IstioCertificateService/CreateCertificate (istiod, Istio 1.5+). */
        CREATE_CERTIFICATE("IstioCertificateService/CreateCertificate"),
        /** istio.v1.auth.IstioCAService/HandleCSR (Citadel, Istio 1.4). */
        HANDLE_CSR("IstioCAService/HandleCSR");

        private final String method;

        Protocol(String method) {
            this.method = method;
        }

        /** The gRPC service and method, as logs and states show it. */
        public String method() {
            return method;
        }
    }

    /** The name 1.4 node agents used for Citadel's certificate (hence the /etc/hosts line). */
    public static final String CITADEL_SERVER_NAME = "istio-citadel";

    public CaEndpoint {
        Objects.requireNonNull(protocol, "protocol");
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(serverName, "serverName");
        Objects.requireNonNull(clusterId, "clusterId");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the CA request timeout must be positive");
        }
    }

    @Override
    public String toString() {
        return protocol.method() + " at " + address + " (server name " + serverName + ")";
    }

    /** Same service at the same place (deadline and cluster aside): what {@link CaChoice} remembers. */
    boolean sameServiceAs(CaEndpoint other) {
        return protocol == other.protocol && address.equals(other.address) && serverName.equals(other.serverName);
    }
}
