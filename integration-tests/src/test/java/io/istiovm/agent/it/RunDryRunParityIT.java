package io.istiovm.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.sds.ServedIdentity;
import io.istiovm.agent.testing.TestIdentities;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code run --dry-run} runs exactly {@code run}'s preparation: on every kind of bad input that gets past the
 * configuration loader into the components (and on the loader's own refusals), both exit with the same code, and
 * the code is the one the input calls for. Each case starts from a configuration that prepares cleanly (checked
 * by {@link #theBaseConfigurationPreparesCleanly}) and breaks exactly one thing.
 *
 * <p>Both commands run as the packaged jar in a network namespace made for the test ({@code ip netns add}), so
 * that even an agent that wrongly got past preparation could not touch the host's netfilter; every file they could
 * write is in the case's scratch directory. "Changes nothing" is checked on everything the agent could change:
 * the hosts file, the namespace's netfilter (iptables-save and ip6tables-save, with a foreign rule in each family
 * planted first, and its addresses on lo), and the certificate directory (every entry's type, bytes, mode and
 * owner).
 *
 * <p>Runs beside the other integration tests (@Execution(CONCURRENT), this module's pom): each case's namespace has
 * a random name and its files are in the case's own directory.
 */
@Execution(ExecutionMode.CONCURRENT)
class RunDryRunParityIT {
    private static ServedIdentity identity;

    @TempDir
    Path dir;

    /** The network namespace the agent runs in; deleted after each test. */
    private String netns;

    @BeforeEach
    void createNamespace() throws Exception {
        netns = "ivadry-" + Long.toHexString(ProcessHandle.current().pid()) + "-"
                + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        exec("ip", "netns", "add", netns);
        exec("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up");
        // Something of someone else's in each family, which must survive every command byte for byte.
        exec("ip", "netns", "exec", netns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9",
                "-j", "RETURN");
        exec("ip", "netns", "exec", netns, "ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9",
                "-j", "RETURN");
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        if (netns != null) {
            exec("ip", "netns", "del", netns);
        }
    }

    @BeforeAll
    static void issue() {
        identity = new TestIdentities().issue("bar", "httpbin");
    }

    /** One way to break the base configuration. */
    @FunctionalInterface
    interface Breakage {
        void apply(Path dir, Map<String, String> clusterEnv) throws IOException;
    }

    static Stream<Arguments> badInput() {
        return Stream.of(
                Arguments.of("an invalid value", 78, (Breakage) (d, env) -> env.put("ISTIO_INBOUND_PORTS", "88x")),
                Arguments.of("no cluster.env", 66, (Breakage) (d, env) -> env.clear()),
                Arguments.of("sshd's port in ISTIO_INBOUND_PORTS", 78,
                        (Breakage) (d, env) -> env.put("ISTIO_INBOUND_PORTS", "22,8888")),
                Arguments.of("no Envoy binary", 78,
                        (Breakage) (d, env) -> env.put("VM_AGENT_ENVOY_BINARY", d.resolve("no-such-envoy").toString())),
                Arguments.of("an invalid bootstrap override", 78, (Breakage) (d, env) -> {
                    Files.writeString(d.resolve("override.json"), "{\"admin\": {\"no_such_field\": 1}}");
                    env.put("ISTIO_BOOTSTRAP_OVERRIDE", d.resolve("override.json").toString());
                }),
                Arguments.of("an invalid hosts.d source", 78, (Breakage) (d, env) ->
                        Files.writeString(Files.createDirectories(d.resolve("config/hosts.d")).resolve("20-bad.hosts"),
                                "127.255.0.300 broken.global\n")),
                Arguments.of("no identity and no token", 65, (Breakage) (d, env) -> {
                    for (String name : List.of("key.pem", "cert-chain.pem", "root-cert.pem")) {
                        Files.delete(d.resolve("certs").resolve(name));
                    }
                }),
                Arguments.of("a corrupt key", 65, (Breakage) (d, env) ->
                        Files.writeString(d.resolve("certs/key.pem"), "-----BEGIN PRIVATE KEY-----\nnot base64\n")),
                Arguments.of("an identity of another namespace", 65,
                        (Breakage) (d, env) -> env.put("ISTIO_NAMESPACE", "elsewhere")));
    }

    @Test
    void theBaseConfigurationPreparesCleanly() throws Exception {
        Map<String, String> env = base(dir);
        write(dir, env);
        String before = hostState(dir);
        Result dryRun = agent(dir, "run", "--dry-run", "--config-dir", dir.resolve("config").toString());
        assertThat(dryRun.exitCode()).as(dryRun.toString()).isZero();
        assertThat(dryRun.out()).contains("# hosts", "# identity", "# sds", "# envoy", "# capture");
        assertThat(dryRun.out()).as("the plan it did not apply").contains("-A ISTIO_OUTPUT");
        assertThat(hostState(dir)).as("a dry run that plans every rule changes nothing").isEqualTo(before);
    }

    /** The guide's cluster.env writes an empty ISTIO_SERVICE_CIDR; the dry run says so, and why it is likely. */
    @Test
    void aDryRunWarnsAboutAnEmptyServiceCidr() throws Exception {
        Map<String, String> env = base(dir);
        env.put("ISTIO_SERVICE_CIDR", "");
        write(dir, env);
        Result dryRun = agent(dir, "run", "--dry-run", "--config-dir", dir.resolve("config").toString());
        assertThat(dryRun.exitCode()).as(dryRun.toString()).isZero();
        assertThat(problems(dryRun.err())).anySatisfy(line -> assertThat(line).startsWith("warning: ")
                .contains("ISTIO_SERVICE_CIDR").contains("never sets $ISTIO_SERVICE_CIDR"));
    }

    @ParameterizedTest(name = "{0}: exit {1}")
    @MethodSource("badInput")
    void runAndDryRunExitAlike(String what, int expected, Breakage breakage) throws Exception {
        Map<String, String> env = base(dir);
        breakage.apply(dir, env);
        write(dir, env);
        String hostsBefore = Files.readString(dir.resolve("hosts"));
        String before = hostState(dir);
        Result dryRun = agent(dir, "run", "--dry-run", "--config-dir", dir.resolve("config").toString());
        assertThat(hostState(dir)).as("the dry run changed nothing").isEqualTo(before);
        Result run = agent(dir, "run", "--config-dir", dir.resolve("config").toString());
        assertThat(hostState(dir)).as("the refused run changed nothing").isEqualTo(before);
        assertThat(dryRun.exitCode()).as("dry run: " + dryRun).isEqualTo(expected);
        assertThat(run.exitCode()).as("run: " + run).isEqualTo(expected);
        assertThat(problems(run.err())).as("run and dry run report the same problems")
                .isEqualTo(problems(dryRun.err())).isNotEmpty();
        assertThat(Files.readString(dir.resolve("hosts"))).isEqualTo(hostsBefore);
        assertThat(Files.exists(dir.resolve("run/sds.sock"))).isFalse();
    }

    /**
     * Everything the agent could change, as text: the hosts file, the namespace's rules of both families (without
     * iptables-save's timestamp comments) and addresses, and the certificate directory's entries.
     */
    private String hostState(Path dir) throws Exception {
        StringBuilder out = new StringBuilder("--- hosts\n").append(Files.readString(dir.resolve("hosts")));
        for (String save : List.of("iptables-save", "ip6tables-save")) {
            out.append("--- ").append(save).append('\n');
            exec("ip", "netns", "exec", netns, save).lines().filter(line -> !line.startsWith("#"))
                    .forEach(line -> out.append(line).append('\n'));
        }
        out.append("--- addresses\n").append(exec("ip", "netns", "exec", netns, "ip", "addr", "show"));
        out.append("--- certs\n");
        Path certs = dir.resolve("certs");
        try (Stream<Path> tree = Files.walk(certs)) {
            for (Path entry : tree.sorted().toList()) {
                Map<String, Object> attributes = Files.readAttributes(entry, "unix:mode,uid,gid,size,ino",
                        LinkOption.NOFOLLOW_LINKS);
                out.append(certs.relativize(entry)).append(' ').append(attributes.get("mode")).append(' ')
                        .append(attributes.get("uid")).append(':').append(attributes.get("gid")).append(" inode ")
                        .append(attributes.get("ino"));
                if (Files.isRegularFile(entry, LinkOption.NOFOLLOW_LINKS)) {
                    out.append(" sha256 ").append(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                            .digest(Files.readAllBytes(entry))));
                } else if (Files.isSymbolicLink(entry)) {
                    out.append(" -> ").append(Files.readSymbolicLink(entry));
                }
                out.append('\n');
            }
        }
        return out.toString();
    }

    private static String exec(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
        return output;
    }

    /** What a command reported to the operator, without the log lines (which carry thread names). */
    private static List<String> problems(String stderr) {
        return stderr.lines().filter(line -> !line.startsWith("[")).toList();
    }

    /** A configuration that prepares cleanly on this machine, with every file the agent could touch in {@code dir}. */
    private static Map<String, String> base(Path dir) throws IOException {
        Path certs = dir.resolve("certs");
        TestIdentities.writeFiles(identity, certs);
        Files.writeString(dir.resolve("sshd_config"), "Port 22\n");
        Files.writeString(dir.resolve("hosts"), "127.0.0.1 localhost\n");
        Map<String, String> env = new LinkedHashMap<>();
        env.put("ISTIO_SERVICE_CIDR", "172.21.0.0/16");
        env.put("ISTIO_INBOUND_PORTS", "8888");
        env.put("ISTIO_NAMESPACE", "bar");
        env.put("ISTIO_SVC_IP", "10.0.0.5");
        env.put("POD_NAME", "vm1");
        env.put("VM_AGENT_GATEWAY_ADDRESS", "192.0.2.10");
        env.put("ENVOY_USER", "65534");
        env.put("VM_AGENT_ENVOY_BINARY", "/bin/true");
        env.put("OUTPUT_CERTS", certs.toString());
        env.put("PROV_CERT", certs.toString());
        env.put("VM_AGENT_HOSTS_FILE", dir.resolve("hosts").toString());
        env.put("VM_AGENT_SSHD_CONFIG", dir.resolve("sshd_config").toString());
        env.put("VM_AGENT_SDS_SOCKET", dir.resolve("run/sds.sock").toString());
        env.put("VM_AGENT_ENVOY_CONFIG_DIR", dir.resolve("proxy").toString());
        env.put("VM_AGENT_ENVOY_SHM_DIR", dir.resolve("shm").toString());
        return env;
    }

    private static void write(Path dir, Map<String, String> env) throws IOException {
        Path config = Files.createDirectories(dir.resolve("config"));
        if (env.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder();
        env.forEach((k, v) -> text.append(k).append("='").append(v).append("'\n"));
        Files.writeString(config.resolve("cluster.env"), text.toString());
    }

    record Result(int exitCode, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** The packaged agent in the test's network namespace; a command still running after a minute fails the test. */
    private Result agent(Path dir, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        command.addAll(AgentProcess.command(args));
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        builder.environment().clear();
        builder.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        Process process = builder.start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("did not exit within 60 s: " + String.join(" ", args) + "\n"
                    + Files.readString(err));
        }
        return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }
}
