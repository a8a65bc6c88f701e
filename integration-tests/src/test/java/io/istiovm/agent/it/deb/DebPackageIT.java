package io.istiovm.agent.it.deb;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host-side checks of the built .deb (agent-packaging's `mvn package`): lintian clean, the control fields, the
 * contents with their modes, the maintainer scripts parse, and systemd-analyze verify (systemd 252, Debian 12)
 * accepts every shipped unit name in a tree where the package is extracted. Installing it and running the scripts
 * needs a booted container: that is the box harness's test.
 */
class DebPackageIT {
    private static final Path TARGET = Path.of(System.getProperty("repo.root", ".."), "agent-packaging", "target")
            .toAbsolutePath().normalize();
    private static final List<String> UNIT_NAMES =
            List.of("istio-vm-agent.service", "istio.service", "istio-auth-node-agent.service");

    private static Path deb;

    @BeforeAll
    static void findPackage() throws IOException {
        try (Stream<Path> files = Files.list(TARGET)) {
            List<Path> debs = files.filter(p -> p.getFileName().toString().matches("istio-vm-agent_.*_amd64\\.deb"))
                    .toList();
            assertThat(debs).as("exactly one .deb in %s", TARGET).hasSize(1);
            deb = debs.get(0);
        }
    }

    @Test
    void lintianReportsNoErrorsAndNoWarnings() throws Exception {
        Run lintian = run("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb.toString());
        assertThat(lintian.exitCode()).as(lintian.output()).isZero();
        assertThat(lintian.output()).doesNotContainPattern("(?m)^[EW]: ");
    }

    @Test
    void controlNamesTheVersionAndExactlyWhatTheAgentCalls() throws Exception {
        assertThat(field("Package")).isEqualTo("istio-vm-agent");
        assertThat(field("Version")).matches("[0-9][0-9A-Za-z.+~]*-[0-9]+");
        assertThat(field("Architecture")).isEqualTo("amd64");
        // java: the agent itself; iptables: capture rules; iproute2: `ip` for TPROXY routes and netns; procps:
        // the unit's ExecReload=/bin/kill; adduser: postinst's users. util-linux (setpriv) and init-system-helpers are Essential, so not named.
        assertThat(Arrays.stream(field("Depends").split(",\\s*")).toList()).containsExactly(
                "openjdk-17-jre-headless | java17-runtime-headless | java21-runtime-headless"
                        + " | java25-runtime-headless",
                "iptables", "iproute2", "procps", "adduser");
        assertThat(listControl()).contains("./postinst", "./prerm", "./postrm", "./control", "./md5sums",
                "./conffiles");
        // One conffile, the unit's environment file: policy allows conffiles only under /etc, so the default
        // sidecar.env (in /var/lib) is installed by postinst instead.
        assertThat(controlFile("conffiles")).isEqualTo("/etc/default/istio-vm-agent\n");
        assertThat(controlFile("md5sums")).as("conffiles are not in md5sums, as with dh_md5sums")
                .doesNotContain("etc/default");
    }

    @Test
    void contentsHaveTheirPathsModesAndOwners() throws Exception {
        List<String> lines = run("dpkg-deb", "--contents", deb.toString()).output().lines().toList();
        assertThat(lines).allSatisfy(line -> assertThat(line).contains(" root/root "));
        assertEntry(lines, "-rwxr-xr-x", "./usr/bin/istio-vm-agent");
        assertEntry(lines, "-rw-r--r--", "./usr/share/istio-vm-agent/istio-vm-agent.jar");
        assertEntry(lines, "-rw-r--r--", "./usr/share/istio-vm-agent/sidecar.env");
        assertEntry(lines, "-rw-r--r--", "./etc/default/istio-vm-agent");
        assertEntry(lines, "-rw-r--r--", "./usr/lib/tmpfiles.d/istio-vm-agent.conf");
        assertEntry(lines, "-rw-r--r--", "./lib/systemd/system/istio-vm-agent.service");
        assertEntry(lines, "lrwxrwxrwx", "./lib/systemd/system/istio.service -> istio-vm-agent.service");
        assertEntry(lines, "lrwxrwxrwx",
                "./lib/systemd/system/istio-auth-node-agent.service -> istio-vm-agent.service");
        assertEntry(lines, "-rw-r--r--", "./usr/share/bash-completion/completions/istio-vm-agent");
        assertEntry(lines, "-rw-r--r--", "./usr/share/man/man8/istio-vm-agent.8.gz");
        assertEntry(lines, "-rw-r--r--", "./usr/share/doc/istio-vm-agent/copyright");
        assertEntry(lines, "-rw-r--r--", "./usr/share/doc/istio-vm-agent/changelog.Debian.gz");
        assertEntry(lines, "-rw-r--r--", "./usr/share/doc/istio-vm-agent/README.md.gz");
        assertThat(lines).noneMatch(line -> line.contains("./usr/local/bin/envoy"));
    }

    @Test
    void maintainerScriptsParseAndStartWithSetE(@TempDir Path dir) throws Exception {
        assertThat(run("dpkg-deb", "--control", deb.toString(), dir.toString()).exitCode()).isZero();
        for (String script : List.of("postinst", "prerm", "postrm")) {
            Path file = dir.resolve(script);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rwxr-xr-x");
            assertThat(Files.readString(file)).startsWith("#!/bin/sh\n").containsPattern("(?m)^set -e$");
            Run syntax = run("sh", "-n", file.toString());
            assertThat(syntax.exitCode()).as(script + ": " + syntax.output()).isZero();
        }
    }

    @Test
    void systemdAnalyzeVerifiesEveryShippedUnitName(@TempDir Path root) throws Exception {
        assertThat(run("dpkg-deb", "-x", deb.toString(), root.toString()).exitCode()).isZero();
        Path units = root.resolve("lib/systemd/system");
        // The targets the unit orders against come from the host's systemd, as on an installed system.
        try (Stream<Path> targets = Files.list(Path.of("/lib/systemd/system"))) {
            for (Path target : targets.filter(p -> p.toString().endsWith(".target")).toList()) {
                if (!Files.exists(units.resolve(target.getFileName()), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.copy(target, units.resolve(target.getFileName()));
                }
            }
        }
        // verify checks that every Exec*= program exists in the root; kill (procps, ExecReload) is not ours, so a
        // stand-in marks where it would be installed.
        for (String program : List.of("bin/kill")) {
            Path standIn = root.resolve(program);
            if (!Files.exists(standIn)) {
                Files.createDirectories(standIn.getParent());
                Files.writeString(standIn, "#!/bin/sh\nexit 0\n", StandardCharsets.US_ASCII);
                Files.setPosixFilePermissions(standIn, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
        List<String> command = new ArrayList<>(List.of("systemd-analyze", "verify", "--root=" + root));
        command.addAll(UNIT_NAMES);
        Run verify = run(command.toArray(String[]::new));
        assertThat(verify.exitCode()).as(verify.output()).isZero();
        assertThat(verify.output()).isEmpty();
    }

    /**
     * The shipped unit's sandbox, scored by systemd 252's own table (the host's systemd-analyze, offline: the file
     * as shipped, not a loaded unit): issue 13's goal is an exposure of 3.0 ("OK") or lower. The table is printed
     * for the record; README "systemd" says what keeps each remaining line open.
     */
    @Test
    void systemdAnalyzeSecurityRatesTheUnitOk(@TempDir Path root) throws Exception {
        assertThat(run("dpkg-deb", "-x", deb.toString(), root.toString()).exitCode()).isZero();
        Path unit = root.resolve("lib/systemd/system/istio-vm-agent.service");
        Run security = run("systemd-analyze", "security", "--offline=true", "--no-pager", unit.toString());
        System.out.println("systemd-analyze security --offline=true istio-vm-agent.service:\n" + security.output());
        java.util.regex.Matcher overall = java.util.regex.Pattern
                .compile("Overall exposure level for \\S+: (\\d+\\.\\d) (\\S+)").matcher(security.output());
        assertThat(overall.find()).as(security.output()).isTrue();
        assertThat(Double.parseDouble(overall.group(1))).as(security.output()).isLessThanOrEqualTo(3.0);
        assertThat(overall.group(2)).isEqualTo("OK");
    }

    private static String controlFile(String name) throws Exception {
        Run cat = run("sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -xO ./\"$2\"", "sh", deb.toString(), name);
        assertThat(cat.exitCode()).as(cat.output()).isZero();
        return cat.output();
    }

    private static void assertEntry(List<String> lines, String mode, String path) {
        assertThat(lines).as(path).anyMatch(line -> line.startsWith(mode + " ") && line.endsWith(" " + path));
    }

    private static String field(String name) throws Exception {
        Run run = run("dpkg-deb", "--field", deb.toString(), name);
        assertThat(run.exitCode()).as(run.output()).isZero();
        return run.output().strip();
    }

    private static List<String> listControl() throws Exception {
        Run tar = run("sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -t", "sh", deb.toString());
        assertThat(tar.exitCode()).as(tar.output()).isZero();
        return tar.output().lines().toList();
    }

    private record Run(int exitCode, String output) {
    }

    private static Run run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        byte[] out = process.getInputStream().readAllBytes();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("%s finished", List.of(command)).isTrue();
        return new Run(process.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
