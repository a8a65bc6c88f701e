package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.HostileUser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Configuration trust as {@code check}, {@code run --dry-run} and {@code run} see it, on real files with real
 * owners and modes in a scratch tree (the test runs as root), and the host's users from injected lists (the real
 * /etc/passwd is never read or edited): each case with its exact message and exit code 78.
 */
class ConfigTrustTest {
    private static final Accounts WITH_ISTIO_PROXY = Accounts.of(List.of(new Accounts.Account("root", 0, 0),
            new Accounts.Account("toor", 0, 0), new Accounts.Account("istio-proxy", HostileUser.UID, HostileUser.GID),
            new Accounts.Account("alice", 1000, 1000)), Map.of(0L, "root", 1337L, "istio-proxy", 1000L, "alice"));

    @TempDir
    Path temp;
    Path dir;
    Path cluster;

    @BeforeEach
    void configDirectory() throws Exception {
        dir = Files.createDirectory(temp.resolve("envoy"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        cluster = dir.resolve("cluster.env");
    }

    private CliRun run(Accounts accounts, Map<String, String> environment, String... command) {
        List<String> args = new java.util.ArrayList<>(List.of(command));
        args.addAll(List.of("--config-dir", dir.toString()));
        return CliRun.run(CliRun.TEST_HOST.withAccounts(accounts), environment, args.toArray(String[]::new));
    }

    /** {@code check}, {@code run --dry-run} and {@code run} refuse alike, with exactly {@code errors}. */
    private void refusedEverywhere(Accounts accounts, Map<String, String> environment, String... errors) {
        String expected = String.join("\n", errors) + "\nconfiguration is invalid: " + errors.length + " error"
                + (errors.length == 1 ? "" : "s") + "\n";
        for (String[] command : List.of(new String[] {"check"}, new String[] {"run", "--dry-run"},
                new String[] {"run"})) {
            CliRun result = run(accounts, environment, command);
            assertThat(result.exitCode()).as(String.join(" ", command) + ": " + result).isEqualTo(78);
            assertThat(result.err()).as(String.join(" ", command)).isEqualTo(expected);
        }
    }

    @Test
    void aGroupWritableClusterEnvIsRefusedUnread() throws Exception {
        Files.writeString(cluster, "ISTIO_INBOUND_PORTS=8080\n");
        Files.setPosixFilePermissions(cluster, PosixFilePermissions.fromString("rw-rw-r--"));
        refusedEverywhere(WITH_ISTIO_PROXY, Map.of(), "error: " + cluster + ": can be changed by users other than "
                + "root: " + cluster + " is writable by its group: owned by root (uid 0), group root (gid 0), mode "
                + "0664 (fix: chmod g-w " + cluster + ")");
    }

    @Test
    void theGuidesChownStillLoadsTheKeysThatCannotRaisePrivileges() throws Exception {
        Files.writeString(cluster, "ISTIO_INBOUND_PORTS=8080\nISTIO_SERVICE_CIDR='*'\nISTIO_META_NETWORK=vm-net\n");
        HostileUser.ownTree(dir);
        CliRun check = run(WITH_ISTIO_PROXY, Map.of(), "check", "--output", "properties");
        assertThat(check.exitCode()).as(check.toString()).isZero();
        assertThat(check.out()).contains("ISTIO_INBOUND_PORTS=8080\n", "ISTIO_META_NETWORK=vm-net\n");
    }

    @Test
    void aDirectoryEnvoysUserOwnsMayNotNameTheBinaryOrTheUser() throws Exception {
        Files.writeString(cluster, "VM_AGENT_ENVOY_BINARY=/tmp/x\nENVOY_USER=0\nISTIO_INBOUND_PORTS=8080\n");
        HostileUser.ownTree(dir);
        String chain = cluster + " is owned by istio-proxy (uid 1337), group istio-proxy (gid 1337), mode 0644; "
                + dir + " (directory) is owned by istio-proxy (uid 1337), group istio-proxy (gid 1337), mode 0755 "
                + "(fix: chown root " + cluster + " && chown root " + dir + "), or set it in the agent's environment "
                + "(/etc/default/istio-vm-agent for the packaged unit)";
        refusedEverywhere(WITH_ISTIO_PROXY, Map.of(),
                "error: " + cluster + ":1: VM_AGENT_ENVOY_BINARY='/tmp/x': names the program the agent starts, so "
                        + "only a file that root alone can change may set it; " + chain,
                "error: " + cluster + ":2: ENVOY_USER='0': names the user Envoy runs as, so only a file that root "
                        + "alone can change may set it; " + chain);
    }

    @Test
    void aFileAnotherUserThanEnvoysOwnsIsRefused() throws Exception {
        Files.writeString(cluster, "ISTIO_INBOUND_PORTS=8080\n");
        Files.setAttribute(cluster, "unix:uid", 1000);
        refusedEverywhere(WITH_ISTIO_PROXY, Map.of(), "error: " + cluster + ": can be changed by alice (uid 1000), "
                + "who is neither root nor Envoy's user (ENVOY_USER=istio-proxy, uid 1337): " + cluster + " is owned "
                + "by alice (uid 1000), group root (gid 0), mode 0644 (fix: chown root " + cluster + ")");
    }

    @Test
    void envoyUserZeroIsRefused() throws Exception {
        Files.writeString(cluster, "ENVOY_USER=0\n");
        refusedEverywhere(WITH_ISTIO_PROXY, Map.of(), "error: " + cluster + ":1: ENVOY_USER='0': is uid 0: Envoy "
                + "parses traffic from the network and must not run as root; set ENVOY_USER to istio-proxy "
                + "(useradd --system istio-proxy) or another unprivileged account");
    }

    @Test
    void envoyUserRootAndAnyNameWithUidZeroAreRefused() throws Exception {
        for (String name : List.of("root", "toor")) {
            Files.writeString(cluster, "ENVOY_USER=" + name + "\n");
            refusedEverywhere(WITH_ISTIO_PROXY, Map.of(), "error: " + cluster + ":1: ENVOY_USER='" + name + "': is "
                    + "uid 0 (" + name + "): Envoy parses traffic from the network and must not run as root; set "
                    + "ENVOY_USER to istio-proxy (useradd --system istio-proxy) or another unprivileged account");
        }
    }

    @Test
    void theFallbackUidIsRefusedWhenAnotherAccountHasIt() throws Exception {
        Files.writeString(cluster, "ISTIO_INBOUND_PORTS=8080\n");
        Accounts taken = Accounts.of(List.of(new Accounts.Account("root", 0, 0),
                new Accounts.Account("bob", 1337, 100)), Map.of(0L, "root", 100L, "users"));
        refusedEverywhere(taken, Map.of(), "error: default: ENVOY_USER='istio-proxy': there is no user "
                + "'istio-proxy', and the fallback uid 1337 belongs to the account 'bob'; create the user (useradd "
                + "--system istio-proxy) or set ENVOY_USER to the account Envoy should run as");
        Accounts groupTaken = Accounts.of(List.of(new Accounts.Account("root", 0, 0)),
                Map.of(0L, "root", 1337L, "staff"));
        refusedEverywhere(groupTaken, Map.of(), "error: default: ENVOY_USER='istio-proxy': there is no user "
                + "'istio-proxy', and the fallback gid 1337 belongs to the group 'staff'; create the user (useradd "
                + "--system istio-proxy) or set ENVOY_USER to the account Envoy should run as");
    }

    @Test
    void aControlCharacterFromTheEnvironmentIsRefusedAndShownEscaped() throws Exception {
        Files.writeString(cluster, "ISTIO_INBOUND_PORTS=8080\n");
        refusedEverywhere(WITH_ISTIO_PROXY, Map.of("ISTIO_META_NETWORK", "net\u001b[2Jx"),
                "error: environment: ISTIO_META_NETWORK='net\\x1b[2Jx': control character 0x1b at position 4 is "
                        + "not allowed");
    }
}
