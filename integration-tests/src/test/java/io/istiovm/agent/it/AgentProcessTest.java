package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The launcher's JVM flags, read from the script so that a benchmark starts the agent as the unit does. */
class AgentProcessTest {
    @Test
    void flagsAreTheWordsBetweenJavaAndJarAcrossContinuationLines() {
        String script = "#!/bin/sh\nset -eu\nJAVA=\"${ISTIO_VM_AGENT_JAVA:-java}\"\n"
                + "exec \"$JAVA\" -XX:+UseSerialGC -Xmx64m \\\n    -XX:MaxMetaspaceSize=64m -jar \"$JAR\" \"$@\"\n";
        assertThat(AgentProcess.launcherJvmFlags(script))
                .containsExactly("-XX:+UseSerialGC", "-Xmx64m", "-XX:MaxMetaspaceSize=64m");
    }

    @Test
    void aFlagThatIsNotAPlainWordIsRefused() {
        assertThatThrownBy(() -> AgentProcess.launcherJvmFlags("exec \"$JAVA\" $EXTRA -jar x.jar\n"))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> AgentProcess.launcherJvmFlags("exec java -jar x.jar\n"))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void theCheckoutsLauncherHasTheUnitsFlags() throws Exception {
        assertThat(AgentProcess.launcherJvmFlags()).contains("-XX:+UseSerialGC").allMatch(f -> f.startsWith("-X"));
    }
}
