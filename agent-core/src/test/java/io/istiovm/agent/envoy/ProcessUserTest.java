package io.istiovm.agent.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.Accounts;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.UserRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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

    private static final Accounts HOST = Accounts.of(List.of(new Accounts.Account("root", 0, 0),
            new Accounts.Account("toor", 0, 0), new Accounts.Account("alice", 1000, 1000)), Map.of(0L, "root"));

    @Test
    void uidZeroIsRefusedHoweverItIsSpelled() {
        for (UserRef root : List.of(UserRef.uid(0), UserRef.named("root"), UserRef.named("toor"))) {
            assertThatThrownBy(() -> ProcessUser.resolve(root, HOST)).isInstanceOf(InvalidValueException.class)
                    .hasMessageStartingWith("is uid 0");
        }
        assertThatThrownBy(() -> new ProcessUser("root", 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theFallbackIdsAreUsedOnlyWhenNobodyHasThem() throws Exception {
        assertThat(ProcessUser.resolve(UserRef.named("istio-proxy"), HOST))
                .isEqualTo(new ProcessUser("istio-proxy", 1337, 1337));
        Accounts uidTaken = Accounts.of(List.of(new Accounts.Account("bob", 1337, 100)), Map.of());
        assertThatThrownBy(() -> ProcessUser.resolve(UserRef.named("istio-proxy"), uidTaken))
                .hasMessage("there is no user 'istio-proxy', and the fallback uid 1337 belongs to the account 'bob'; "
                        + "create the user (useradd --system istio-proxy) or set ENVOY_USER to the account Envoy "
                        + "should run as");
        Accounts gidTaken = Accounts.of(List.of(), Map.of(1337L, "staff"));
        assertThatThrownBy(() -> ProcessUser.resolve(UserRef.named("istio-proxy"), gidTaken))
                .hasMessage("there is no user 'istio-proxy', and the fallback gid 1337 belongs to the group 'staff'; "
                        + "create the user (useradd --system istio-proxy) or set ENVOY_USER to the account Envoy "
                        + "should run as");
    }

    @Test
    void theGroupFileBesidePasswdIsRead() throws Exception {
        Files.writeString(dir.resolve("passwd"), "root:x:0:0:root:/root:/bin/bash\n");
        Files.writeString(dir.resolve("group"), "root:x:0:\nstaff:x:1337:\n");
        assertThatThrownBy(() -> ProcessUser.resolve(UserRef.named("istio-proxy"), dir.resolve("passwd")))
                .isInstanceOf(java.io.IOException.class).hasMessageContaining("fallback gid 1337 belongs to the "
                        + "group 'staff'");
        assertThatThrownBy(() -> ProcessUser.resolve(UserRef.named("root"), dir.resolve("passwd")))
                .hasMessageStartingWith("ENVOY_USER=root: is uid 0 (root)");
    }
}
