package io.istiovm.agent.it.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.it.AgentProcess;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.HostsMountNamespace;
import io.istiovm.agent.testing.VictimFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 8 against the packaged agent: the /etc/hosts line injection of the issue (a ServiceEntry named
 * {@code "x\n10.66.66.66 istiod.istio-system.svc\n#"}) and a hosts.d file name with a newline, through
 * {@code hosts apply}, {@code hosts plan} and {@code run --dry-run} in a mount namespace whose /etc/hosts is a
 * temporary file; and a link the hostile user (uid 1337, a real process) plants at a hosts file in a directory it
 * can write. Each is refused with the exact message and exit code, and the hosts file (and the machine's own
 * /etc/hosts, and the victim) are byte-identical afterwards.
 */
class HostsHostileIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Path REAL_HOSTS = Path.of("/etc/hosts");
    private static final String ORIGINAL = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# \u00fcml\u00e4ut\n";
    private static final String INJECTION = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
            + "  name: \"x\\n10.66.66.66 istiod.istio-system.svc\\n#\"\n  namespace: bar\nspec:\n"
            + "  hosts: [httpbin.bar.global]\n  addresses: [127.255.0.3]\n";
    private static final String REFUSED_NAME = "metadata.name='x\\x0a10.66.66.66 istiod.istio-system.svc\\x0a#': "
            + "bad ServiceEntry name: contains the control character \\x0a at position 2 (a name is a DNS-1123 "
            + "subdomain: lowercase letters, digits, inner hyphens, dots between labels, at most 253)";

    private byte[] realHostsBefore;
    private Path root;
    private Path config;
    private HostsMountNamespace namespace;

    @BeforeEach
    void setUp() throws IOException {
        realHostsBefore = Files.readAllBytes(REAL_HOSTS);
        root = Files.createTempDirectory("hosts-hostile");
        config = Files.createDirectories(root.resolve("config"));
        Files.writeString(config.resolve("cluster.env"), "VM_AGENT_GATEWAY_ADDRESS=192.168.99.1\n");
        Files.createDirectories(config.resolve("hosts.d"));
        namespace = HostsMountNamespace.create(ORIGINAL);
    }

    @AfterEach
    void tearDown() throws IOException {
        namespace.close();
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
        assertThat(Files.readAllBytes(REAL_HOSTS)).as("the machine's /etc/hosts").isEqualTo(realHostsBefore);
    }

    @Test
    void theIssuesInjectionIsRefusedByHostsApplyAndPlan() throws Exception {
        Files.writeString(config.resolve("hosts.d/injected.yaml"), INJECTION);
        String refused = "error: " + config.resolve("hosts.d/injected.yaml") + ":4: " + REFUSED_NAME + "\n"
                + "configuration is invalid: 1 error\n";

        HostsMountNamespace.Result apply = namespace.run(agent("hosts", "apply"), TIMEOUT);

        assertThat(apply.err()).isEqualTo("hosts block not written; /etc/hosts is unchanged:\n" + refused);
        assertThat(apply.code()).isEqualTo(78);
        assertThat(hostsBytes()).isEqualTo(ORIGINAL.getBytes(StandardCharsets.UTF_8));

        HostsMountNamespace.Result plan = namespace.run(agent("hosts", "plan") + " && getent hosts "
                + "istiod.istio-system.svc", TIMEOUT);

        assertThat(plan.err()).isEqualTo(refused);
        assertThat(plan.code()).isEqualTo(78);
        assertThat(hostsBytes()).isEqualTo(ORIGINAL.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void theIssuesInjectionIsRefusedByRunDryRunAndAnExistingBlockStays() throws Exception {
        HostsMountNamespace.Result good = namespace.run(agent("hosts", "apply"), TIMEOUT);
        assertThat(good.code()).as(good.err()).isZero();
        byte[] withBlock = hostsBytes();
        Files.writeString(config.resolve("hosts.d/injected.yaml"), INJECTION);

        HostsMountNamespace.Result dryRun = namespace.run("unshare --net -- " + agent("run", "--dry-run"), TIMEOUT);

        assertThat(dryRun.err()).contains("error: " + config.resolve("hosts.d/injected.yaml") + ":4: "
                + REFUSED_NAME + "\n");
        assertThat(dryRun.err()).doesNotContain("10.66.66.66 istiod.istio-system.svc\n");
        assertThat(dryRun.code()).as(dryRun.err()).isEqualTo(78);
        assertThat(hostsBytes()).isEqualTo(withBlock);
        HostsMountNamespace.Result resolved = namespace.run("getent hosts istiod.istio-system.svc", TIMEOUT);
        assertThat(resolved.out()).as("glibc still resolves the gateway's name from the old block")
                .isEqualTo("192.168.99.1    istio-citadel istio-pilot istio-pilot.istio-system istiod.istio-system.svc\n");
    }

    @Test
    void aHostsDFileNameWithANewlineIsRefused() throws Exception {
        String name = "x\n10.66.66.66 istiod.istio-system.svc\n#.hosts";
        Files.writeString(config.resolve("hosts.d").resolve(name), "127.255.0.9 ok.global\n");

        HostsMountNamespace.Result apply = namespace.run(agent("hosts", "apply"), TIMEOUT);

        assertThat(apply.err()).isEqualTo("hosts block not written; /etc/hosts is unchanged:\n"
                + "error: " + config.resolve("hosts.d") + ": file name 'x\\x0a10.66.66.66 istiod.istio-system.svc"
                + "\\x0a#.hosts' contains the control character \\x0a at position 2; a hosts source's name goes into "
                + "the hosts file's comments, rename the file\nconfiguration is invalid: 1 error\n");
        assertThat(apply.code()).isEqualTo(78);
        assertThat(hostsBytes()).isEqualTo(ORIGINAL.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aLinkTheHostileUserPlantsAtAHostsFileIsNotFollowed() throws Exception {
        VictimFile victim = VictimFile.secretFile(root.resolve("victim/shadow"));
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path shared = Files.createDirectories(root.resolve("shared"));
        HostileUser.own(shared);
        Path hostsFile = shared.resolve("hosts");
        HostileUser.sh("ln -s '" + victim.path() + "' '" + hostsFile + "'");
        Files.writeString(config.resolve("cluster.env"), "VM_AGENT_GATEWAY_ADDRESS=192.168.99.1\n"
                + "VM_AGENT_HOSTS_FILE=" + hostsFile + "\n");

        AgentProcess.Result apply = AgentProcess.run(Map.of(), "hosts", "apply", "--config-dir", config.toString());

        assertThat(apply.err()).isEqualTo("hosts block not written; " + hostsFile + " is unchanged:\n"
                + "error: " + hostsFile + ": is a symbolic link owned by uid 1337; only links owned by root are "
                + "followed (replace it with the file, or have root create the link)\n");
        assertThat(apply.exitCode()).isEqualTo(74);
        victim.assertUntouched();
        assertThat(Files.readSymbolicLink(hostsFile)).isEqualTo(victim.path());
    }

    private String agent(String... args) {
        List<String> command = new ArrayList<>(AgentProcess.command(args));
        command.add("--config-dir");
        command.add(config.toString());
        return String.join(" ", command.stream().map(word -> "'" + word.replace("'", "'\\''") + "'").toList());
    }

    private byte[] hostsBytes() throws IOException {
        return Files.readAllBytes(namespace.hostsFile());
    }
}
