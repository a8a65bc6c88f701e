package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.cli.ExitCodes;
import io.istiovm.agent.testing.CliRun;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of bad input ends `hosts apply` and `hosts plan` with exit code 78 and the exact message (file, line,
 * key, reason; `apply` first says that the file is unchanged), and leaves the hosts file, which already holds a
 * block, byte for byte as it was.
 * In the expected messages {@code {d}} stands for hosts.d, {@code {c}} for the configuration directory and
 * {@code {t}} for the hosts file.
 */
class HostsBadInputTest {
    private static final String SEED = "httpbin-bar-forvms.yaml";

    /** Puts one piece of bad input into the scratch directory. */
    interface BadInput {
        void create(HostsScratch scratch) throws IOException, InterruptedException;
    }

    private HostsScratch scratch;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        scratch.dropIn(SEED, HostsGoldenTest.manifest(SEED));
        assertThat(scratch.cli("hosts", "apply").exitCode()).isZero();
    }

    @AfterEach
    void tearDown() throws IOException {
        scratch.close();
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                bad("address out of range", s -> s.dropIn("20-bad.hosts", "# db\n10.0.0.300 db.global\n"),
                        "error: {d}/20-bad.hosts:2: bad address: '10.0.0.300': octet 300 is larger than 255"),
                bad("host name with an underscore", s -> s.dropIn("20-bad.hosts", "127.255.0.9 foo_bar.global\n"),
                        "error: {d}/20-bad.hosts:1: bad host name: 'foo_bar.global': label 'foo_bar' may hold only "
                                + "letters, digits and inner hyphens (RFC 1123)"),
                bad("address without names", s -> s.hostsSource("\n\n127.255.0.9   # nothing\n"),
                        "error: {c}/hosts:3: address 127.255.0.9 has no host names after it"),
                bad("not a ServiceEntry", s -> s.dropIn("vs.yaml", "apiVersion: networking.istio.io/v1beta1\n"
                                + "kind: VirtualService\nmetadata:\n  name: x\n"),
                        "error: {d}/vs.yaml:2: kind='VirtualService': only ServiceEntry objects belong in hosts.d"),
                bad("wrong apiVersion", s -> s.dropIn("se.yaml", "---\napiVersion: networking.istio.io/v2\n"
                                + "kind: ServiceEntry\n"),
                        "error: {d}/se.yaml:2: apiVersion='networking.istio.io/v2': not an Istio networking API "
                                + "version (networking.istio.io/v1alpha3, v1beta1 or v1)"),
                bad("malformed YAML", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\nkind: "
                                + "ServiceEntry\nspec:\n  hosts: [a.global\n  addresses: [127.255.0.9]\n"),
                        "error: {d}/se.yaml:5: malformed YAML: expected ',' or ']', but got : (column 12)"),
                bad("malformed JSON", s -> s.dropIn("se.json", "{\"apiVersion\": \"networking.istio.io/v1\",\n"
                                + "  \"kind\": \"ServiceEntry\",,\n}\n"),
                        "error: {d}/se.json:2: malformed YAML: expected the node content, but found ',' (column 26)"),
                bad("one name, two addresses", s -> s.dropIn("20-local.hosts", "127.255.0.4 httpbin.bar.global\n"),
                        "error: {d}/httpbin-bar-forvms.yaml:3: conflict: httpbin.bar.global is mapped to 127.255.0.3 here "
                                + "(ServiceEntry httpbin.bar.forvms (httpbin-bar-forvms.yaml:3)) and to 127.255.0.4 at "
                                + "{d}/20-local.hosts:1; a name needs one address, remove one of the two"),
                bad("gateway name mapped elsewhere", s -> s.hostsSource("10.0.0.1 istiod.istio-system.svc\n"),
                        "error: {c}/hosts:1: conflict: istiod.istio-system.svc is mapped to 10.0.0.1 here (hosts:1) and to "
                                + "192.168.99.1 at {c}/cluster.env:2 (VM_AGENT_GATEWAY_ADDRESS (cluster.env:2)); a name "
                                + "needs one address, remove one of the two"),
                bad("a 50 MB file", HostsBadInputTest::fiftyMegabytes,
                        "error: {d}/big.hosts: is 52428800 bytes; a hosts source may be at most 1048576 bytes (1 MiB)"),
                bad("symbolic link loop", s -> {
                    Files.createDirectories(s.dropIns());
                    Files.createSymbolicLink(s.dropIns().resolve("a.hosts"), Path.of("b.hosts"));
                    Files.createSymbolicLink(s.dropIns().resolve("b.hosts"), Path.of("a.hosts"));
                }, "error: {d}/a.hosts: is a symbolic link loop\nerror: {d}/b.hosts: is a symbolic link loop"),
                bad("dangling symbolic link", s -> Files.createSymbolicLink(s.dropIns().resolve("gone.hosts"),
                                Path.of("/nonexistent/hosts")),
                        "error: {d}/gone.hosts: is a symbolic link to a file that does not exist"),
                bad("directory", s -> Files.createDirectories(s.dropIns().resolve("sub.hosts")),
                        "error: {d}/sub.hosts: is not a regular file (a directory); only regular files are read as "
                                + "hosts sources"),
                bad("named pipe (would block a reader)", s -> mkfifo(s.dropIns().resolve("pipe.hosts")),
                        "error: {d}/pipe.hosts: is not a regular file (a device, pipe or socket); only regular files "
                                + "are read as hosts sources"),
                bad("invalid UTF-8", s -> s.dropIn("latin1.hosts",
                                "10.0.0.1 a.global\n# caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1)),
                        "error: {d}/latin1.hosts:2: is not valid UTF-8 text"),
                bad("binary file", s -> s.dropIn("image.hosts", new byte[] {'1', '0', '\n', 0, 1, 2}),
                        "error: {d}/image.hosts:2: contains a NUL byte: this is a binary file, not a hosts source"),
                bad("ServiceEntry with a bad address", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\n"
                                + "kind: ServiceEntry\nmetadata: {name: x}\nspec:\n  hosts: [x.global]\n"
                                + "  addresses:\n  - 127.255.0.5\n  - 127.255.0.256\n"),
                        "error: {d}/se.yaml:8: spec.addresses[1]='127.255.0.256': bad address: '127.255.0.256': "
                                + "octet 256 is larger than 255"),
                bad("ServiceEntry with a bad host", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\n"
                                + "kind: ServiceEntry\nspec:\n  hosts: [ok.global, -bad.global]\n"
                                + "  addresses: [127.255.0.5]\n"),
                        "error: {d}/se.yaml:4: spec.hosts[1]='-bad.global': bad host name: '-bad.global': label '-bad' may "
                                + "hold only letters, digits and inner hyphens (RFC 1123)"),
                bad("ServiceEntry without hosts", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\n"
                                + "kind: ServiceEntry\nmetadata:\n  name: x\nspec:\n  addresses: [127.255.0.5]\n"),
                        "error: {d}/se.yaml:6: spec.hosts: is missing"),
                bad("key set twice", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\n"
                                + "kind: ServiceEntry\nspec:\n  hosts: [x.global]\n  hosts: [y.global]\n"),
                        "error: {d}/se.yaml:5: spec.hosts: is set twice in one mapping"),
                bad("spec is a list", s -> s.dropIn("se.yaml", "apiVersion: networking.istio.io/v1\n"
                                + "kind: ServiceEntry\nspec:\n- hosts: [x.global]\n"),
                        "error: {d}/se.yaml:4: spec: must be a mapping (key: value pairs)"),
                bad("hosts.d is a file", s -> {
                    Files.walk(s.dropIns()).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    Files.writeString(s.dropIns(), "127.255.0.3 httpbin.bar.global\n");
                }, "error: {d}: is not a directory; hosts.d holds hosts-format files and ServiceEntry manifests"),
                bad("damaged block in the hosts file", s -> Files.writeString(s.target(),
                                s.targetText().replace("# END istio-vm-agent\n", "")),
                        "error: {t}:1: BEGIN marker of the istio-vm-agent block has no END marker; the block was edited by "
                                + "hand: restore the END line or delete the block"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void refusedWithTheExactMessageAndNothingChanges(String name, BadInput input, String expected) throws Exception {
        input.create(scratch);
        assertRefused(scratch, expected);
    }

    /**
     * Runs `hosts plan` and `hosts apply` on {@code scratch} and checks that both exit 78 with exactly
     * {@code expected} (placeholders {d}, {c}, {t} as above) and leave the hosts file byte for byte as it was.
     */
    static void assertRefused(HostsScratch scratch, String expected) {
        byte[] before = scratch.targetBytes();
        String message = expected.replace("{d}", scratch.dropIns().toString())
                .replace("{c}", scratch.config().toString()).replace("{t}", scratch.target().toString());
        int errors = message.split("\n").length;
        String count = "configuration is invalid: " + errors + (errors == 1 ? " error" : " errors") + "\n";
        CliRun plan = scratch.cli("hosts", "plan");
        assertThat(plan.err()).as("plan").isEqualTo(message + "\n" + count);
        assertThat(plan.exitCode()).as("plan").isEqualTo(ExitCodes.CONFIG);
        assertThat(scratch.targetBytes()).as("plan").isEqualTo(before);
        CliRun apply = scratch.cli("hosts", "apply");
        assertThat(apply.err()).as("apply").isEqualTo("hosts block not written; " + scratch.target()
                + " is unchanged:\n" + message + "\n" + count);
        assertThat(apply.exitCode()).as("apply").isEqualTo(ExitCodes.CONFIG);
        assertThat(scratch.targetBytes()).as("apply").isEqualTo(before);
    }

    private static Arguments bad(String name, BadInput input, String expected) {
        return Arguments.of(name, input, expected);
    }

    /** 50 MB of well-formed lines, generated here rather than committed. */
    private static void fiftyMegabytes(HostsScratch scratch) throws IOException {
        Files.createDirectories(scratch.dropIns());
        byte[] line = "127.255.10.10 padding-name-for-a-very-large-file.global\n".getBytes(StandardCharsets.UTF_8);
        byte[] chunk = new byte[line.length * 1024];
        for (int i = 0; i < 1024; i++) {
            System.arraycopy(line, 0, chunk, i * line.length, line.length);
        }
        long size = 50L * 1024 * 1024;
        try (OutputStream out = Files.newOutputStream(scratch.dropIns().resolve("big.hosts"))) {
            for (long written = 0; written < size; ) {
                int n = (int) Math.min(chunk.length, size - written);
                out.write(chunk, 0, n);
                written += n;
            }
        }
    }

    private static void mkfifo(Path path) throws IOException, InterruptedException {
        Files.createDirectories(path.getParent());
        Process process = new ProcessBuilder("mkfifo", path.toString()).inheritIO().start();
        assertThat(process.waitFor()).isZero();
    }
}
