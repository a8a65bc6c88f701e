package io.istiovm.agent.it.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.VictimFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10, item 6: root execution through configuration. The Envoy user (uid 1337, a real process through
 * setpriv) owns the configuration directory, as the multi-network guide's {@code chown -R istio-proxy
 * /var/lib/istio/envoy} leaves it, and writes a cluster.env that names its own program as the Envoy binary and
 * {@code ENVOY_USER=0}. The packaged agent's {@code run}, {@code run --dry-run} and {@code check} refuse it with
 * exit 78 and the exact message; the planted program never runs; the victims are untouched.
 */
class ConfigHostileIT {
    @TempDir
    Path dir;

    @Test
    void aClusterEnvEnvoysUserWritesCannotNameTheBinaryOrRunEnvoyAsRoot() throws Exception {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        // Where the attacker keeps its program: a world-writable sticky directory, as /tmp.
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        Files.setAttribute(tmp, "unix:mode", 01777);
        Path config = Files.createDirectory(dir.resolve("config"));
        HostileUser.ownTree(config);
        Path program = tmp.resolve("x");
        Path marker = tmp.resolve("x-ran");
        Path cluster = config.resolve("cluster.env");
        HostileUser.sh("umask 022 && printf '#!/bin/sh\\nid -u > " + marker + "\\n' > " + program + " && chmod 0755 "
                + program + " && printf 'VM_AGENT_ENVOY_BINARY=" + program + "\\nENVOY_USER=0\\n"
                + "ISTIO_INBOUND_PORTS=8080\\n' > " + cluster);
        VictimFile secret = VictimFile.secretFile(dir.resolve("victim/secret"));
        Path hosts = Files.writeString(dir.resolve("hosts"), "127.0.0.1 localhost\n");
        VictimFile hostsFile = VictimFile.record(hosts);

        String chain = cluster + " is owned by uid 1337, group gid 1337, mode 0644; " + config + " (directory) is "
                + "owned by uid 1337, group gid 1337, mode 0755 (fix: chown root " + cluster + " && chown root "
                + config + "), or set it in the agent's environment (/etc/default/istio-vm-agent for the packaged unit)";
        List<String> expected = List.of(
                "error: " + cluster + ":1: VM_AGENT_ENVOY_BINARY='" + program + "': names the program the agent "
                        + "starts, so only a file that root alone can change may set it; " + chain,
                "error: " + cluster + ":2: ENVOY_USER='0': names the user Envoy runs as, so only a file that root "
                        + "alone can change may set it; " + chain,
                "configuration is invalid: 2 errors");
        for (List<String> command : List.of(List.of("run"), List.of("run", "--dry-run"), List.of("check"))) {
            Result result = agent(command, config);
            assertThat(result.exitCode()).as(command + ": " + result).isEqualTo(78);
            assertThat(result.err().lines().filter(line -> !line.startsWith("["))).as(String.join(" ", command))
                    .containsExactlyElementsOf(expected);
        }
        assertThat(marker).as("the planted program never ran").doesNotExist();
        secret.assertUntouched();
        hostsFile.assertUntouched();
        assertThat(dir.resolve("run")).as("no SDS socket directory was made").doesNotExist();
    }

    record Result(int exitCode, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /**
     * The packaged agent in a network namespace of its own, every path it could write in {@code dir} (set in its
     * environment, which only root controls), so that even an agent that wrongly accepted the file could touch
     * neither the host's netfilter nor its files.
     */
    private Result agent(List<String> args, Path config) throws Exception {
        List<String> command = new ArrayList<>(List.of("unshare", "--net", "--"));
        List<String> full = new ArrayList<>(args);
        full.addAll(List.of("--config-dir", config.toString()));
        command.addAll(AgentProcess.command(full.toArray(String[]::new)));
        Map<String, String> environment = new LinkedHashMap<>();
        environment.put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        environment.put("VM_AGENT_HOSTS_FILE", dir.resolve("hosts").toString());
        environment.put("PROV_CERT", dir.resolve("certs").toString());
        environment.put("VM_AGENT_SSHD_CONFIG", dir.resolve("sshd_config").toString());
        environment.put("VM_AGENT_SDS_SOCKET", dir.resolve("run/sds.sock").toString());
        environment.put("VM_AGENT_ENVOY_CONFIG_DIR", dir.resolve("proxy").toString());
        environment.put("VM_AGENT_ENVOY_SHM_DIR", dir.resolve("shm").toString());
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        builder.environment().clear();
        builder.environment().putAll(environment);
        Process process = builder.start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("did not exit within 60 s: " + args + "\n" + Files.readString(err));
        }
        return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }
}
