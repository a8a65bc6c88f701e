package io.istiovm.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.istiovm.agent.config.HostFacts;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.status.EnvoyStats;
import io.istiovm.agent.status.StatusServer;
import io.istiovm.agent.testing.TestAgent;
import io.istiovm.agent.testing.TestCa;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code status} against a real status server on loopback: its summary, its JSON and its three exit codes. */
class StatusCommandTest {
    private final TestAgent agent = new TestAgent("identity", "envoy");
    private final AgentState state = agent.state;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private StatusServer server;

    @BeforeEach
    void setUp() throws Exception {
        agent.start();
        server = StatusServer.start(state, EnvoyStats.NONE, InetAddress.getLoopbackAddress(), 0);
    }

    @AfterEach
    void tearDown() {
        server.close();
    }

    private int run(String... args) throws Exception {
        CliEnvironment env = new CliEnvironment(Map.of(), HostFacts.fixed("vm-1",
                List.of(InetAddress.getByName("10.0.0.7"))), new PrintWriter(out, true), new PrintWriter(err, true));
        return Cli.execute(env, args);
    }

    private String port() {
        return Integer.toString(server.address().getPort());
    }

    @Test
    void notReadyExits1AndSaysWhy() throws Exception {
        state.reporter("identity").ready("spiffe://cluster.local/ns/vm/sa/default valid until 2026-12-03T04:00:00Z");
        state.reporter("identity").facts(Map.of("serial", "1f2e"));
        state.reporter("envoy").starting("epoch 0 starting (pid 4242)");
        assertThat(run("status", "--port", port())).isEqualTo(ExitCodes.DIFFERENT);
        assertThat(out.toString()).startsWith("istio-vm-agent: NOT READY (running)\n")
                .contains("  identity  ready     spiffe://cluster.local/ns/vm/sa/default valid until")
                .contains("serial=1f2e")
                .contains("  envoy     starting  epoch 0 starting (pid 4242)\n");
    }

    @Test
    void readyExits0AndJsonIsTheAgentsOwn() throws Exception {
        state.reporter("identity").ready("valid");
        state.reporter("envoy").ready("epoch 0 LIVE");
        assertThat(run("status", "--port", port(), "--output", "json")).isEqualTo(ExitCodes.OK);
        assertThat(new ObjectMapper().readTree(out.toString()).path("components")).hasSize(2);
        assertThat(new ObjectMapper().readTree(out.toString()).path("ready").asBoolean()).isTrue();
    }

    @Test
    void anAgentThatIsNotListeningExits69() throws Exception {
        int closed = TestCa.closedPort();
        assertThat(run("status", "--port", Integer.toString(closed))).isEqualTo(ExitCodes.UNAVAILABLE);
        assertThat(err.toString()).startsWith("error: the agent is not reachable at http://127.0.0.1:" + closed
                + "/debug/status");
        assertThat(out.toString()).isEmpty();
    }
}
