package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.config.UserRef;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessUserTest {
    @TempDir
    Path dir;

    @Test
    void namesAndUidsResolveThroughPasswdWithIstiosFallback() throws Exception {
        Path passwd = dir.resolve("passwd");
        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\n"
                + "istio-proxy:x:998:997::/var/lib/istio:/usr/sbin/nologin\n");
        assertThat(ProcessUser.resolve(UserRef.named("istio-proxy"), passwd))
                .isEqualTo(new ProcessUser("istio-proxy", 998, 997));
        assertThat(ProcessUser.resolve(UserRef.named("envoy"), passwd))
                .isEqualTo(new ProcessUser("envoy", 1337, 1337));
        assertThat(ProcessUser.resolve(UserRef.uid(998), passwd)).isEqualTo(new ProcessUser("998", 998, 997));
        assertThat(ProcessUser.resolve(UserRef.uid(65534), passwd)).isEqualTo(new ProcessUser("65534", 65534, 65534));
    }
}
