package io.istiovm.agent.assembly;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.sds.IdentityHolder;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.ManualLoops;
import io.istiovm.agent.testing.SteppingClock;
import io.istiovm.agent.testing.TestConfigs;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The files preparation trusts besides the configuration: the Envoy binary, ISTIO_BOOTSTRAP_OVERRIDE and the hosts
 * sources must be root's, in directories only root can write, or preparing refuses with the exact fix (exit 78, a
 * {@link ConfigException}) before anything is read or started.
 */
class PreparationTrustTest {
    @TempDir
    Path dir;
    private AgentRuntime runtime;
    private Path binary;

    @BeforeEach
    void host() throws Exception {
        ManualLoops loops = new ManualLoops(new SteppingClock(Instant.parse("2026-12-02T10:00:00Z")));
        Files.createDirectories(dir.resolve("host/etc"));
        Files.createDirectories(dir.resolve("host/proc/self"));
        runtime = new AgentRuntime(loops.clock(), loops, new FileEvents(FileSystems.getDefault()),
                new HostPaths(dir.resolve("host/etc"), dir.resolve("host/proc")), CliRun.TEST_HOST);
        binary = Files.createDirectories(dir.resolve("bin")).resolve("envoy");
        Files.writeString(binary, "#!/bin/sh\nexit 0\n");
        Files.setPosixFilePermissions(binary, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void close() throws Exception {
        runtime.close();
    }

    private AgentConfig config(Map<String, String> values) {
        return TestConfigs.inMemory(dir.resolve("config"), values);
    }

    private EnvoyArea envoy(AgentConfig config) {
        return new EnvoyArea(config, runtime, new IdentityHolder());
    }

    private static String refusal(ConfigException e) {
        return String.join("\n", e.errors().stream().map(ConfigProblem::render).toList());
    }

    @Test
    void aRootOwnedBinaryInRootOnlyDirectoriesPrepares() throws Exception {
        assertThat(envoy(config(Map.of("VM_AGENT_ENVOY_BINARY", binary.toString()))).supervisor().prepare()
                .binary()).isEqualTo(binary);
    }

    @Test
    void aBinaryEnvoysUserOwnsIsRefused() throws Exception {
        HostileUser.own(binary);
        EnvoyArea area = envoy(config(Map.of("VM_AGENT_ENVOY_BINARY", binary.toString())));
        assertThatThrownBy(() -> area.supervisor().prepare()).isInstanceOfSatisfying(ConfigException.class,
                e -> assertThat(refusal(e)).isEqualTo("error: " + dir.resolve("config/cluster.env") + ":1: "
                        + "VM_AGENT_ENVOY_BINARY='" + binary + "': the agent starts this program, so only root may "
                        + "be able to change it; " + binary + " is owned by uid 1337, group gid 1337, mode 0755 "
                        + "(fix: chown root " + binary + ")"));
    }

    @Test
    void aBinaryInADirectoryEnvoysUserCanWriteIsRefused() throws Exception {
        HostileUser.own(binary.getParent());
        EnvoyArea area = envoy(config(Map.of("VM_AGENT_ENVOY_BINARY", binary.toString())));
        assertThatThrownBy(() -> area.supervisor().prepare()).isInstanceOfSatisfying(ConfigException.class,
                e -> assertThat(refusal(e)).endsWith(binary.getParent() + " (directory) is owned by uid 1337, "
                        + "group gid 1337, mode 0755 (fix: chown root " + binary.getParent() + ")"));
    }

    @Test
    void anOverrideInAWorldWritableStickyDirectoryIsRefusedBeforeItIsRead() throws Exception {
        // As /tmp: root's, mode 1777. A FIFO there would stall a read, so the refusal must come first.
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        Files.setAttribute(tmp, "unix:mode", 01777);
        Path override = tmp.resolve("override.json");
        Files.writeString(override, "{}");
        EnvoyArea area = envoy(config(Map.of("ISTIO_BOOTSTRAP_OVERRIDE", override.toString())));
        String expected = "error: " + dir.resolve("config/cluster.env") + ":1: ISTIO_BOOTSTRAP_OVERRIDE='" + override
                + "': the agent merges this file into Envoy's bootstrap, so only root may be able to change it; "
                + tmp + " (directory) is a directory every user can create names in: owned by uid 0, group "
                + "gid 0, mode 1777 (fix: move override.json out of " + tmp + " into a directory only root can "
                + "write (install -d -o root -m 0755 DIR; install -o root -m 0644 " + override + " DIR/))";
        assertThatThrownBy(area::settings).isInstanceOfSatisfying(ConfigException.class,
                e -> assertThat(refusal(e)).isEqualTo(expected));
        Files.delete(override);
        assertThat(new ProcessBuilder("mkfifo", override.toString()).start().waitFor()).isZero();
        assertThatThrownBy(area::settings).isInstanceOfSatisfying(ConfigException.class,
                e -> assertThat(refusal(e)).isEqualTo(expected));
    }

    @Test
    void aHostsDropInEnvoysUserOwnsIsRefused() throws Exception {
        Path dropIn = Files.createDirectories(dir.resolve("config/hosts.d")).resolve("extra.hosts");
        Files.writeString(dropIn, "10.66.66.66 github.com\n");
        HostileUser.own(dropIn);
        HostsArea hosts = new Assembly(runtime).hosts(config(Map.of("VM_AGENT_HOSTS_FILE",
                dir.resolve("etc-hosts").toString())));
        ConfigException refused = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, hosts::plan);
        assertThat(refusal(refused)).isEqualTo("error: " + dropIn + ": is a hosts source, whose names go into "
                + dir.resolve("etc-hosts") + " for every user of the host, so only root may be able to change it; "
                + dropIn + " is owned by uid 1337, group gid 1337, mode 0644 (fix: chown root " + dropIn + ")");
        ConfigException alsoAtPrepare = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> hosts.components().get(0).prepare());
        assertThat(refusal(alsoAtPrepare)).isEqualTo(refusal(refused));
        assertThat(dir.resolve("etc-hosts")).doesNotExist();
    }
}
