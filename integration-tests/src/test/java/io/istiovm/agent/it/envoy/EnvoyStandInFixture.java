package io.istiovm.agent.it.envoy;

import io.istiovm.agent.envoy.AdminAddress;
import io.istiovm.agent.envoy.EnvoyAdminClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A scratch installation of the {@link EnvoyStandIn}: an executable {@code bin/envoy} script that execs the
 * stand-in's JVM (so the agent starts it exactly as it would start Envoy, as any user), its shared-memory,
 * config and SDS directories, free ports for every listener, and the files through which a test injects faults
 * and reads what the stand-in was asked to do. Everything lives in one directory under {@code target/} that
 * {@link #close()} removes, after killing every stand-in process started from it.
 */
public final class EnvoyStandInFixture implements AutoCloseable {
    /** The uid (and gid) Envoy runs as in these tests: {@code nobody}, which every Debian host has. */
    public static final int ENVOY_UID = 65534;

    private static final Path TARGET = Path.of(System.getProperty("repo.root", ".."), "integration-tests", "target")
            .toAbsolutePath().normalize();
    private static final Pattern SERIALS = Pattern.compile("\"serial_number\":\"([0-9a-f]+)\"");

    private final Path dir;
    /**
     * The sockets' directory (SDS, Envoy's admin): short, under /tmp, because a unix socket's path has at most 107
     * bytes and the worktree's target/ may be deep.
     */
    private final Path sockets;
    private final int adminPort;
    private final int outboundPort;
    private final int inboundPort;
    private final int statusPort;
    private final int prometheusPort;
    private final int agentStatusPort;

    public EnvoyStandInFixture() throws IOException {
        this(Path.of("/tmp"));
    }

    /**
     * As {@link #EnvoyStandInFixture()} with the short sockets directory below {@code socketsParent}: a booted
     * container's systemd-tmpfiles empties /tmp at boot, so a fixture shared with one binds another directory.
     */
    public EnvoyStandInFixture(Path socketsParent) throws IOException {
        Files.createDirectories(TARGET.resolve("envoy-it"));
        dir = Files.createTempDirectory(TARGET.resolve("envoy-it"), "standin-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        sockets = Files.createTempDirectory(socketsParent, "evm-");
        Files.setPosixFilePermissions(sockets, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String sub : List.of("bin", "proxy", "run", "certs")) {
            Files.createDirectories(dir.resolve(sub));
        }
        // The stand-in writes its shared memory, hot-restart sockets and records as Envoy's user.
        Files.createDirectories(shmDir());
        ownByEnvoy(shmDir());
        Files.writeString(record(), "");
        ownByEnvoy(record());
        List<Integer> ports = freePorts(6);
        adminPort = ports.get(0);
        outboundPort = ports.get(1);
        inboundPort = ports.get(2);
        statusPort = ports.get(3);
        prometheusPort = ports.get(4);
        agentStatusPort = ports.get(5);
        writeLauncher();
    }

    public Path dir() {
        return dir;
    }

    public Path binary() {
        return dir.resolve("bin/envoy");
    }

    /** Envoy's shared-memory directory (VM_AGENT_ENVOY_SHM_DIR), where the stand-in's hot-restart sockets are. */
    public Path shmDir() {
        return sockets.resolve("shm");
    }

    public Path record() {
        return dir.resolve("record.txt");
    }

    public Path certsDir() {
        return dir.resolve("certs");
    }

    public int adminPort() {
        return adminPort;
    }

    public int outboundPort() {
        return outboundPort;
    }

    public int inboundPort() {
        return inboundPort;
    }

    /** VM_AGENT_STATUS_PORT in {@link #clusterEnv}: the agent's status server, where Envoy's readiness forwards. */
    public int agentStatusPort() {
        return agentStatusPort;
    }

    /**
     * The agent configuration that points the agent at this stand-in, with short timers so that tests are quick;
     * each {@code KEY=value} in {@code overrides} replaces or adds a key.
     */
    public String clusterEnv(String... overrides) {
        java.util.Map<String, String> env = new java.util.LinkedHashMap<>();
        env.put("VM_AGENT_ENVOY_BINARY", binary().toString());
        env.put("ENVOY_USER", Integer.toString(ENVOY_UID));
        env.put("ISTIO_SVC_IP", "127.0.0.1");
        env.put("POD_NAME", "vm1");
        env.put("ISTIO_NAMESPACE", "bar");
        env.put("ISTIO_SERVICE", "httpbin.bar");
        env.put("VM_AGENT_ENVOY_ADMIN_PORT", Integer.toString(adminPort));
        env.put("ENVOY_PORT", Integer.toString(outboundPort));
        env.put("INBOUND_CAPTURE_PORT", Integer.toString(inboundPort));
        env.put("ENVOY_STATUS_PORT", Integer.toString(statusPort));
        env.put("ENVOY_PROMETHEUS_PORT", Integer.toString(prometheusPort));
        env.put("VM_AGENT_STATUS_PORT", Integer.toString(agentStatusPort));
        env.put("VM_AGENT_SDS_SOCKET", sockets.resolve("sds/socket").toString());
        env.put("VM_AGENT_ENVOY_CONFIG_DIR", dir.resolve("proxy").toString());
        env.put("VM_AGENT_ENVOY_SHM_DIR", shmDir().toString());
        env.put("OUTPUT_CERTS", certsDir().toString());
        env.put("PROV_CERT", certsDir().toString());
        // `run` starts every component: keep the capture rules and the hosts block off the real host.
        env.put("ISTIO_CUSTOM_IP_TABLES", "true");
        env.put("VM_AGENT_HOSTS_FILE", hostsFile().toString());
        env.put("VM_AGENT_ENVOY_POLL_INTERVAL", "50ms");
        env.put("VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME", "1s");
        env.put("VM_AGENT_ENVOY_STOP_TIMEOUT", "5s");
        env.put("MINIMUM_DRAIN_DURATION", "0s");
        env.put("TERMINATION_DRAIN_DURATION", "2s");
        for (String line : overrides) {
            int eq = line.indexOf('=');
            env.put(line.substring(0, eq), line.substring(eq + 1));
        }
        StringBuilder text = new StringBuilder("# written by EnvoyStandInFixture\n");
        env.forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
        return text.toString();
    }

    /**
     * Drop-in lines for the shipped, sandboxed unit (ProtectSystem=strict, ProtectHome=yes) that let an agent run
     * with {@link #clusterEnv} under it: the stand-in, its records and sockets, and the paths the agent is pointed
     * at live in this fixture's directories, which the unit would otherwise see read-only; and the build tree
     * holding the stand-in's classpath may be under /root or /home.
     */
    public String sandboxDropIn() {
        String repo = TARGET.getParent().getParent().toString();
        boolean underHome = repo.equals("/root") || repo.startsWith("/root/") || repo.equals("/home")
                || repo.startsWith("/home/");
        return "# The test fixture's own directories are written by the agent and the stand-in.\n"
                + "ReadWritePaths=" + dir + " " + sockets + "\n"
                + (underHome ? "# The stand-in's classpath is in the build tree, under " + repo + ".\nProtectHome=no\n"
                        : "");
    }

    /** A scratch hosts file standing in for /etc/hosts, so an agent started with {@link #clusterEnv} owns a block there. */
    public Path hostsFile() {
        Path hosts = dir.resolve("hosts");
        try {
            if (!Files.exists(hosts)) {
                Files.writeString(hosts, "127.0.0.1 localhost\n");
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return hosts;
    }

    /** Faults for every stand-in started from now on: {@code crash_after_ms=N}, {@code never_live=true}, ... */
    public void faults(String... lines) throws IOException {
        Files.writeString(dir.resolve("faults.properties"), String.join("\n", lines) + "\n");
    }

    /** Every line the stand-ins recorded (admin calls, signals, hot-restart hand-overs), in order. */
    public List<String> records() throws IOException {
        return Files.readAllLines(record());
    }

    /**
     * The short directory under /tmp holding the sockets (SDS in {@code sds/}, Envoy's admin in
     * {@code envoy-admin/}): a test that places the SDS socket itself puts it in a directory directly below this one,
     * so that the admin socket lands where {@link #admin} looks.
     */
    public Path socketsDir() {
        return sockets;
    }

    /** Where the agent puts Envoy's admin socket for {@link #clusterEnv} (beside the SDS socket's directory). */
    public Path adminSocket() {
        return sockets.resolve("envoy-admin/socket/admin.sock");
    }

    /**
     * GET on Envoy's admin API: its unix socket when it exists (the default), else the TCP admin port; the answer
     * as {@code "STATUS BODY"}, empty when nothing answers.
     */
    public Optional<String> admin(String path) {
        AdminAddress address = Files.exists(adminSocket(), LinkOption.NOFOLLOW_LINKS)
                ? AdminAddress.socket(adminSocket()) : AdminAddress.tcp(adminPort);
        return new EnvoyAdminClient(address, Duration.ofSeconds(2)).get(path)
                .map(r -> r.status() + " " + r.body());
    }

    /** The workload certificate serials the running stand-in holds (its {@code /certs}), leaf first. */
    public List<String> certChainSerials() {
        Optional<String> certs = admin("/certs");
        List<String> serials = new ArrayList<>();
        if (certs.isPresent() && certs.get().contains("\"cert_chain\":[")) {
            Matcher m = SERIALS.matcher(certs.get().substring(certs.get().indexOf("\"cert_chain\":[")));
            while (m.find()) {
                serials.add(m.group(1));
            }
        }
        return serials;
    }

    /** Pids of stand-in processes started from this fixture that are alive now. */
    public List<Long> alivePids() {
        String marker = "-Denvoy.standin.dir=" + dir;
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            return all.filter(p -> p.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)
                    || cmdline(p.pid()).contains(marker)).map(ProcessHandle::pid).sorted().toList();
        }
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() throws IOException {
        for (long pid : alivePids()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (Path root : List.of(dir, sockets)) {
            try (Stream<Path> files = Files.walk(root)) {
                for (Path path : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    private void writeLauncher() throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String script = "#!/bin/sh\n"
                + "# Envoy stand-in for tests: io.istiovm.agent.it.envoy.EnvoyStandIn (see its documentation).\n"
                + "# Stands in for Istio's proxy build, which registers io.istio.http.peer_metadata and\n"
                + "# istio.metadata_exchange (the agent looks for those names in the binary).\n"
                + "# A wrapper that installs it as Envoy for a scenario (the sandbox) may choose these first.\n"
                + ": \"${ENVOY_STANDIN_RECORD:=" + record() + "}\"\n"
                + ": \"${ENVOY_STANDIN_FAULTS:=" + dir.resolve("faults.properties") + "}\"\n"
                + ": \"${ENVOY_STANDIN_SHM_DIR:=" + shmDir() + "}\"\n"
                + ": \"${ENVOY_STANDIN_OUTBOUND_PORT:=" + outboundPort + "}\"\n"
                + ": \"${ENVOY_STANDIN_INBOUND_PORT:=" + inboundPort + "}\"\n"
                + "export ENVOY_STANDIN_RECORD ENVOY_STANDIN_FAULTS ENVOY_STANDIN_SHM_DIR ENVOY_STANDIN_OUTBOUND_PORT"
                + " ENVOY_STANDIN_INBOUND_PORT\n"
                + "# Envoy answers these two probes in milliseconds; the stand-in does too, without starting its\n"
                + "# JVM, with what EnvoyStandIn.main prints (the hot-restart version may come from the faults).\n"
                + "if [ \"$#\" -eq 1 ] && [ \"$1\" = --version ]; then\n"
                + "  printf '\\n%s\\n\\n' '" + EnvoyStandIn.VERSION + "'\n"
                + "  exit 0\n"
                + "fi\n"
                + "if [ \"$#\" -eq 1 ] && [ \"$1\" = --hot-restart-version ]; then\n"
                + "  v=$(sed -n 's/^hot_restart_version=//p' \"$ENVOY_STANDIN_FAULTS\" 2>/dev/null | tail -n 1)\n"
                + "  echo \"${v:-" + EnvoyStandIn.HOT_RESTART_VERSION + "}\"\n"
                + "  exit 0\n"
                + "fi\n"
                + "exec '" + java + "' -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xss512k -Xmx96m"
                + " -Dio.netty.allocator.type=unpooled '-Denvoy.standin.dir=" + dir + "' -cp '"
                + String.join(":", classpath()) + "' " + EnvoyStandIn.class.getName() + " \"$@\"\n";
        Files.writeString(binary(), script);
        Files.setPosixFilePermissions(binary(), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /**
     * The test classpath, with every jar hard-linked (or copied) into target/, because the Maven repository
     * under /root is not readable by the uid the stand-in runs as.
     */
    private static synchronized List<String> classpath() throws IOException {
        Path lib = TARGET.resolve("envoy-standin-lib");
        Files.createDirectories(lib);
        Files.setPosixFilePermissions(lib, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> entries = new ArrayList<>();
        int index = 0;
        for (String entry : testClasspath()) {
            Path path = Path.of(entry);
            if (Files.isDirectory(path)) {
                entries.add(path.toString());
                continue;
            }
            if (!entry.endsWith(".jar") || !Files.exists(path)) {
                continue;
            }
            Path linked = lib.resolve((index++) + "-" + path.getFileName());
            if (!Files.exists(linked, LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createLink(linked, path);
                } catch (FileAlreadyExistsException e) {
                    // Another fixture linked it first.
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(path, linked, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            entries.add(linked.toString());
        }
        return entries;
    }

    private static List<String> testClasspath() throws IOException {
        String classpath = Optional.ofNullable(System.getProperty("surefire.test.class.path"))
                .orElse(System.getProperty("java.class.path"));
        List<String> entries = new ArrayList<>(List.of(classpath.split(":")));
        if (entries.size() == 1 && entries.get(0).endsWith(".jar")) {
            // A manifest-only jar: the real classpath is its Class-Path attribute.
            try (JarFile jar = new JarFile(entries.get(0))) {
                String manifest = jar.getManifest().getMainAttributes().getValue("Class-Path");
                entries.clear();
                for (String url : manifest.split(" ")) {
                    entries.add(Path.of(URI.create(url)).toString());
                }
            }
        }
        return entries;
    }

    private static void ownByEnvoy(Path path) throws IOException {
        Files.setAttribute(path, "unix:uid", ENVOY_UID);
        Files.setAttribute(path, "unix:gid", ENVOY_UID);
    }

    private static List<Integer> freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                sockets.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
            }
            return sockets.stream().map(ServerSocket::getLocalPort).toList();
        } finally {
            for (ServerSocket socket : sockets) {
                socket.close();
            }
        }
    }
}
