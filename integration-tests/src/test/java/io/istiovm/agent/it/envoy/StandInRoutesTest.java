package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The stand-in's route table: what a line means, and what it refuses. */
class StandInRoutesTest {
    private static final String SNI = "outbound_.8000_._.httpbin.bar.svc.cluster.local";

    @Test
    void anOutboundLineRoutesItsOriginalDestinationAndAnInboundLineItsPort() {
        StandInRoutes routes = StandInRoutes.parse(List.of("# istiod's part", "",
                "127.255.0.3:8000 -> 10.200.0.2:15443 sni=" + SNI,
                "127.255.0.4:8000 -> 10.200.0.2:15443 sni=" + SNI + " san=spiffe://cluster.local/ns/bar/sa/httpbin",
                "inbound 8888"));

        assertThat(routes.outbound("127.255.0.3:8000")).hasValue(
                new StandInRoutes.Outbound(new InetSocketAddress("10.200.0.2", 15443), SNI, Optional.empty()));
        assertThat(routes.outbound("127.255.0.4:8000").orElseThrow().san())
                .hasValue("spiffe://cluster.local/ns/bar/sa/httpbin");
        assertThat(routes.outbound("127.255.0.3:8001")).as("unrouted: the echo").isEmpty();
        assertThat(routes.inbound("10.200.0.1:8888")).hasValue(new InetSocketAddress("127.0.0.1", 8888));
        assertThat(routes.inbound("10.200.0.1:8080")).isEmpty();
        assertThat(StandInRoutes.none().outbound("127.255.0.3:8000")).isEmpty();
    }

    @Test
    void aLineThatIsNotARouteOrAnSniThatIsNotIstiosIsRefused() {
        assertThatThrownBy(() -> StandInRoutes.parse(List.of("127.255.0.3:8000 -> gateway:15443 sni=" + SNI)))
                .hasMessageContaining("line 1: not a route");
        assertThatThrownBy(() -> StandInRoutes.parse(List.of("127.255.0.3:8000 -> 10.200.0.2:15443 "
                + "sni=httpbin.bar.svc.cluster.local"))).hasMessageContaining("not Istio's outbound SNI");
        assertThatThrownBy(() -> StandInRoutes.parse(List.of("inbound 70000"))).hasMessageContaining("not a port");
        assertThatThrownBy(() -> StandInRoutes.parse(List.of("1.2.3.4:80 -> 10.0.0.1:15443 sni=" + SNI
                + " san=httpbin"))).as("a SAN is a SPIFFE id").hasMessageContaining("line 1: not a route");
        assertThatThrownBy(() -> StandInRoutes.parse(List.of("1.2.3.4:80 -> 10.0.0.1:15443 sni=" + SNI,
                "1.2.3.4:80 -> 10.0.0.2:15443 sni=" + SNI))).hasMessageContaining("line 2: a second route");
    }
}
