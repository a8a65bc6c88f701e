package io.istiovm.agent.it.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.envoy.EnvoySupervisor;
import io.istiovm.agent.sds.WorkloadIdentity;
import io.istiovm.agent.testing.Await;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The supervisor against the Envoy stand-in: real processes, real admin HTTP, real SDS over a unix socket. */
class EnvoySupervisionIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private EnvoyStandInFixture standIn;

    @BeforeEach
    void createStandIn() throws Exception {
        standIn = new EnvoyStandInFixture();
    }

    @AfterEach
    void removeStandIn() throws Exception {
        standIn.close();
    }

    @Test
    void startsAsEnvoysUserWithIstiosCommandLineAndIsReadyWhenLive() throws Exception {
        try (SupervisedEnvoy envoy = new SupervisedEnvoy(standIn).start()) {
            EnvoySupervisor supervisor = envoy.supervisor();
            Await.until("supervisor ready", WAIT, supervisor::ready);
            String info = standIn.admin("/server_info").orElseThrow();
            assertThat(info).startsWith("200 ").contains("\"state\":\"LIVE\"", "\"epoch\":0",
                    "\"uid\":" + EnvoyStandInFixture.ENVOY_UID,
                    "\"service_node\":\"" + envoy.settings().nodeId() + "\"",
                    "\"service_cluster\":\"httpbin.bar\"", "\"parent_shutdown_time\":\"1s\"");
            assertThat(supervisor.status().epoch()).hasValue(0);
            assertThat(standIn.alivePids()).containsExactly(supervisor.status().pid().getAsLong());
        }
        assertThat(standIn.alivePids()).isEmpty();
    }
}
