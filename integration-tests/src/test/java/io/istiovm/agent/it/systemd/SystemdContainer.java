package io.istiovm.agent.it.systemd;

import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Test fixture: a throw-away Debian bookworm system with real systemd 252 as PID 1 (real journald, dbus, dpkg,
 * iptables in its own network namespace), booted with {@code systemd-nspawn} on a host whose PID 1 is not systemd.
 * One per test class; {@link #close()} always removes everything it made.
 *
 * <p>What it does, and why each step is as it is:
 * <ul>
 *   <li>The root file system comes from a tarball cached under {@value #CACHE_DIR}, built once with debootstrap
 *       (minbase plus {@link #PACKAGES}) and the suite's updates, keyed on suite, packages, mirrors and
 *       {@link #FORMAT}, rebuilt after {@link #CACHE_MAX_AGE}. A cold build cost 103 s here (debootstrap, the
 *       updates, packing); a warm start unpacks it to a tmpfs in 0.9-2.2 s. The mirror is the host's own (its apt sources), so the
 *       repository names none.</li>
 *   <li>Each instance is unpacked to a tmpfs at {@code /var/lib/machines/NAME} (creating files on this kind of VM's
 *       ext4 is slow) and booted with {@code --register=no --keep-unit} (without a host systemd there is neither
 *       machined nor a bus to create a scope: nspawn refuses to boot otherwise) and {@code --network-veth} (a private
 *       network namespace, so capture rules inside never touch the host's).</li>
 *   <li>With {@code --keep-unit} nspawn makes its {@code payload}/{@code supervisor} cgroups below the cgroup it
 *       runs in: it is started in a cgroup of its own ({@code NAME}) in each hierarchy, which teardown empties and
 *       removes.</li>
 *   <li>{@link #exec} enters all namespaces of the container's PID 1 with {@code nsenter} and a clean environment.
 *       {@code machinectl}, {@code systemctl -M} and {@code journalctl -M} need systemd-machined on the host, which
 *       cannot run without systemd as the host's PID 1.</li>
 *   <li>A lock file per instance under {@value #STATE_DIR}, held while it lives: a new instance first removes what
 *       a killed run left behind (instances with the {@value #PREFIX} prefix whose lock nobody holds).</li>
 * </ul>
 *
 * <p>Facts measured on the CI machine type (Debian 12 host, 2 vCPU, hybrid cgroups): boot to
 * {@code is-system-running} = running plus the veth in 0.3-0.9 s; orderly shutdown (SIGTERM to nspawn, which the container's
 * systemd gets as SIGRTMIN+3) 0.1-0.2 s. Resource control is not enforced inside (the container's systemd runs with
 * read-only v1 controllers), and {@code LimitNOFILE=} is clamped to the host's hard limit: do not test those here.
 */
public final class SystemdContainer implements AutoCloseable {
    /** The instance name prefix: stale instances are found by it. */
    public static final String PREFIX = "vmit";
    static final String CACHE_DIR = "/var/cache/istio-vm-agent-it";
    static final String STATE_DIR = "/run/istio-vm-agent-it";
    static final String SUITE = "bookworm";
    /**
     * Baked into the rootfs: the container has no network route out, so whatever the agent (and the .deb of
     * issue 13) depends on must be here. util-linux gives setpriv, procps gives ps/pgrep for the tests.
     */
    static final List<String> PACKAGES = List.of("systemd", "systemd-sysv", "dbus", "iptables", "iproute2",
            "adduser", "procps", "util-linux", "openjdk-17-jre-headless");
    /** Bump when the rootfs customisation in {@link RootfsCache} changes, so that old caches are not reused. */
    static final int FORMAT = 1;
    static final Duration CACHE_MAX_AGE = Duration.ofDays(7);
    private static final Duration BOOT_TIMEOUT = Duration.ofSeconds(120);
    private static final String CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /** A directory of the host seen at the same or another path inside the container. */
    public record Bind(Path host, Path container, boolean readOnly) {
        public Bind {
            if (!host.isAbsolute() || !container.isAbsolute()) {
                throw new IllegalArgumentException("bind paths must be absolute: " + host + " -> " + container);
            }
            if ((host + container.toString()).contains(":")) {
                throw new IllegalArgumentException("nspawn cannot bind a path with ':' in it: " + host);
            }
        }

        public static Bind readOnly(Path path) {
            return new Bind(path, path, true);
        }

        public static Bind writable(Path path) {
            return new Bind(path, path, false);
        }

        String option() {
            return (readOnly ? "--bind-ro=" : "--bind=") + host + ":" + container;
        }
    }

    /** A finished command inside the container. */
    public record Result(int exit, String out, String err) {
        public Result ok() {
            if (exit != 0) {
                throw new AssertionError("command failed: " + this);
            }
            return this;
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private final String name;
    /** The veth's /30 (its first three octets), or null when booted in a namespace the caller made. */
    private final String net;
    /** The network namespace (a name under /run/netns) the container joined, or null with its own veth. */
    private final String namespace;
    private final Path root;
    private final Path work;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Timings timings;
    private Process nspawn;
    private long leader;
    private Duration timingsBoot = Duration.ZERO;

    /**
     * Measured durations of this instance's steps, for the report: the rootfs (the cache check, or the build when
     * the cache was cold), the unpack to the tmpfs, the boot to "running" with the veth configured.
     */
    public record Timings(Duration rootfsBuild, Duration unpack, Duration boot) {
    }

    private SystemdContainer(String name, String net, String namespace, Path root, Path work, FileChannel lockChannel,
                             FileLock lock, Timings timings) {
        this.name = name;
        this.net = net;
        this.namespace = namespace;
        this.root = root;
        this.work = work;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.timings = timings;
    }

    /**
     * Boots a fresh container with {@code binds} (directories of the host that must exist before the boot; nspawn
     * mounts them only then) and a veth pair with {@link #hostAddress()} and {@link #containerAddress()}. Fails
     * loudly, never skips, when a prerequisite is missing: these tests are the acceptance of the systemd issue.
     *
     * @param artifacts where teardown leaves the console log and the container's journal (e.g. under target/)
     */
    public static SystemdContainer boot(List<Bind> binds, Path artifacts) throws IOException, InterruptedException {
        return boot(binds, artifacts, null);
    }

    /**
     * Boots a fresh container that joins the network namespace {@code namespace} (a name under /run/netns, made and
     * wired by the caller, e.g. {@code VmPeerNetwork}'s vm) instead of getting a veth to the host: nothing of the
     * host's network is touched, and the container's addresses and routes are the namespace's.
     */
    public static SystemdContainer bootInNamespace(List<Bind> binds, Path artifacts, String namespace)
            throws IOException, InterruptedException {
        if (!namespace.matches("[A-Za-z0-9][A-Za-z0-9_.-]*") || !Files.exists(Path.of("/run/netns", namespace))) {
            throw new IllegalArgumentException("no network namespace /run/netns/" + namespace);
        }
        return boot(binds, artifacts, namespace);
    }

    private static SystemdContainer boot(List<Bind> binds, Path artifacts, String namespace)
            throws IOException, InterruptedException {
        Prerequisites.check();
        Files.createDirectories(Path.of(STATE_DIR));
        cleanupStale();
        String name = PREFIX + (ProcessHandle.current().pid() % 100000);
        // The host side of the veth is "ve-NAME" and an interface name has at most 15 bytes.
        if (name.length() > 12) {
            throw new IllegalStateException("machine name too long for its veth: " + name);
        }
        String net = namespace == null ? freeNet() : null;
        Path lockFile = Path.of(STATE_DIR, name + ".lock");
        FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            channel.close();
            throw new IllegalStateException("container " + name + " is already running in this JVM: one at a time");
        }
        Path root = Path.of("/var/lib/machines", name);
        Path work;
        Instant t0 = Instant.now();
        Instant t1;
        try {
            Files.createDirectories(artifacts);
            work = Files.createTempDirectory(artifacts, name + "-");
            Path tarball = RootfsCache.ensure(name, work);
            t1 = Instant.now();
            Files.createDirectories(root);
            Host.run(Duration.ofSeconds(10), "mount", "-t", "tmpfs", "-o", "mode=0755,size=4G", "vmit-" + name,
                    root.toString()).ok();
            // A process pipe, not a shell line: paths never meet a shell.
            Host.pipe(Duration.ofSeconds(120), List.of("zstd", "-q", "-dc", tarball.toString()),
                    List.of("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-C",
                            root.toString(), "-xf", "-")).ok();
            Files.writeString(root.resolve("etc/hostname"), name + "\n");
        } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
            // Not booted yet: nothing to stop, only what was made so far to remove.
            cleanupInstance(name);
            lock.release();
            channel.close();
            Files.deleteIfExists(lockFile);
            throw e;
        }
        Instant t2 = Instant.now();
        SystemdContainer box = new SystemdContainer(name, net, namespace, root, work, channel, lock,
                new Timings(Duration.between(t0, t1), Duration.between(t1, t2), Duration.ZERO));
        Runtime.getRuntime().addShutdownHook(new Thread(box::closeQuietly, "systemd-container-teardown"));
        try {
            box.start(binds);
        } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
            box.close();
            throw e;
        }
        return box;
    }

    private void start(List<Bind> binds) throws IOException, InterruptedException {
        Instant t0 = Instant.now();
        List<String> command = new ArrayList<>(List.of("systemd-nspawn", "--register=no", "--keep-unit", "--boot",
                "--notify-ready=yes", "--directory=" + root, "--machine=" + name,
                namespace == null ? "--network-veth" : "--network-namespace-path=/run/netns/" + namespace,
                "--console=read-only"));
        binds.forEach(b -> command.add(b.option()));
        // nspawn speaks sd_notify to whoever started it (systemd 252 nspawn.c): first "X_NSPAWN_LEADER_PID=" once
        // the container's PID 1 exists, then, with --notify-ready=yes, "READY=1" once that systemd finished
        // booting. Waiting for those datagrams is waiting for the events themselves, not polling for them.
        Path notifyPath = Path.of(STATE_DIR, name + ".notify");
        Files.deleteIfExists(notifyPath);
        try (UnixDatagramSocket notify = UnixDatagramSocket.bind(UnixAddress.path(notifyPath.toString()))) {
            nspawn = Host.inCgroup(name, command, work.resolve("nspawn.log"),
                    Map.of("NOTIFY_SOCKET", notifyPath.toString()));
            awaitBooted(notify);
        } finally {
            Files.deleteIfExists(notifyPath);
        }
        String state = exec("systemctl", "is-system-running").out().strip();
        if (!state.equals("running")) {
            throw new AssertionError("container " + name + " did not boot: is-system-running = '" + state + "'\n"
                    + exec("systemctl", "--failed", "--no-pager").out() + "\n" + console());
        }
        if (namespace != null) {
            timingsBoot = Duration.between(t0, Instant.now());
            return;
        }
        // No networkd on either side: static /30 addresses, host .1, container .2.
        Host.run(Duration.ofSeconds(10), "ip", "addr", "add", net + ".1/30", "dev", "ve-" + name).ok();
        Host.run(Duration.ofSeconds(10), "ip", "link", "set", "ve-" + name, "up").ok();
        exec("ip", "addr", "add", net + ".2/30", "dev", "host0").ok();
        exec("ip", "link", "set", "host0", "up").ok();
        exec("ip", "route", "add", "default", "via", net + ".1").ok();
        timingsBoot = Duration.between(t0, Instant.now());
    }

    /** Reads nspawn's notifications until READY=1, taking the container's PID 1 from X_NSPAWN_LEADER_PID. */
    private void awaitBooted(UnixDatagramSocket notify) throws IOException {
        Instant deadline = Instant.now().plus(BOOT_TIMEOUT);
        boolean ready = false;
        while (!ready || leader == 0) {
            if (!nspawn.isAlive()) {
                throw new AssertionError("systemd-nspawn exited early (" + nspawn.exitValue() + "):\n" + console());
            }
            Duration left = Duration.between(Instant.now(), deadline);
            if (left.isNegative()) {
                throw new AssertionError("container " + name + " sent no READY=1 within " + BOOT_TIMEOUT + "\n"
                        + console());
            }
            // At most a second per wait, so that an nspawn that died is noticed without waiting out the deadline.
            Optional<byte[]> datagram = notify.receive(left.compareTo(Duration.ofSeconds(1)) < 0 ? left
                    : Duration.ofSeconds(1), 4096);
            if (datagram.isEmpty()) {
                continue;
            }
            for (String line : new String(datagram.get(), StandardCharsets.UTF_8).split("\n")) {
                if (line.equals("READY=1")) {
                    ready = true;
                } else if (line.startsWith("X_NSPAWN_LEADER_PID=")) {
                    leader = Long.parseLong(line.substring("X_NSPAWN_LEADER_PID=".length()));
                }
            }
        }
    }

    public String name() {
        return name;
    }

    /** The container's root directory as the host sees it (writable from the host). */
    public Path root() {
        return root;
    }

    /** The host end of the veth (the container's default route). */
    public String hostAddress() {
        return veth() + ".1";
    }

    /** The container end of the veth ({@code host0}). */
    public String containerAddress() {
        return veth() + ".2";
    }

    private String veth() {
        if (net == null) {
            throw new IllegalStateException("container " + name + " has no veth: it joined /run/netns/" + namespace);
        }
        return net;
    }

    public Timings timings() {
        return new Timings(timings.rootfsBuild(), timings.unpack(), timingsBoot);
    }

    /** Where a path inside the container is on the host. */
    public Path onHost(String containerPath) {
        if (!containerPath.startsWith("/")) {
            throw new IllegalArgumentException("not absolute: " + containerPath);
        }
        return root.resolve(containerPath.substring(1));
    }

    /**
     * Writes a file inside the container (parents created), root-owned with {@code mode} (e.g. "rw-r--r--"). The
     * rootfs is ours alone while the container boots and no hostile user lives in it, so plain writes are safe.
     */
    public void writeFile(String containerPath, String content, String mode) throws IOException {
        Path target = onHost(containerPath);
        Files.createDirectories(target.getParent());
        Files.writeString(target, content, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString(mode));
    }

    /** Copies a host file into the container, root-owned with {@code mode}. */
    public void copyIn(Path source, String containerPath, String mode) throws IOException {
        Path target = onHost(containerPath);
        Files.createDirectories(target.getParent());
        Files.copy(source, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString(mode));
    }

    /** Runs {@code command} inside the container (all its namespaces, its root, a clean environment), at most 2 min. */
    public Result exec(String... command) {
        return exec(Duration.ofMinutes(2), command);
    }

    public Result exec(Duration timeout, String... command) {
        List<String> full = new ArrayList<>(List.of("nsenter", "--target", Long.toString(leader), "--all", "--root",
                "--wd", "--", "env", "-i", "PATH=" + CONTAINER_PATH, "LANG=C.UTF-8", "TERM=dumb", "SYSTEMD_PAGER=",
                "SYSTEMD_COLORS=0"));
        full.addAll(Arrays.asList(command));
        try {
            return Host.run(timeout, full.toArray(String[]::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted: " + full, e);
        }
    }

    /** {@code systemctl show -p P1,P2,... UNIT} as a map (a property systemd does not know is absent). */
    public Map<String, String> show(String unit, String... properties) {
        String out = exec("systemctl", "show", "-p", String.join(",", properties), unit).ok().out();
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return values;
    }

    /** The unit's journal, read inside the container: {@code journalctl -u UNIT --no-pager ARGS...}. */
    public String journal(String unit, String... args) {
        List<String> command = new ArrayList<>(List.of("journalctl", "--no-pager", "-u", unit));
        command.addAll(Arrays.asList(args));
        return exec(command.toArray(String[]::new)).ok().out();
    }

    /** Polls {@code condition} until it holds; fails with {@code what} after {@code deadline}. */
    public static void awaitTrue(String what, Duration deadline, BooleanSupplier condition) {
        Instant end = Instant.now().plus(deadline);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(end)) {
                throw new AssertionError("timed out after " + deadline + " waiting until " + what);
            }
            try {
                Thread.sleep(100); // polling on state with a deadline
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting until " + what, e);
            }
        }
    }

    /** The nspawn console (the container's boot messages), for failure messages. */
    public String console() {
        try {
            String text = Files.readString(work.resolve("nspawn.log"));
            return text.length() > 8000 ? text.substring(text.length() - 8000) : text;
        } catch (IOException e) {
            return "(no console log: " + e + ")";
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (Exception e) {
            System.err.println("systemd container teardown: " + e);
        }
    }

    /** Orderly shutdown, then removes the tmpfs, cgroups, veth and lock; leaves journal and console in the work dir. */
    @Override
    public synchronized void close() throws IOException {
        if (!lockChannel.isOpen()) {
            return;
        }
        try {
            if (nspawn != null && nspawn.isAlive() && Files.isDirectory(root.resolve("var/log/journal"))) {
                // The journal as text beside the console log: what a CI failure is read from.
                Host.run(Duration.ofSeconds(60), "sh", "-c", "journalctl --root=\"$1\" --no-pager -o short-precise"
                        + " > \"$2\" 2>&1", "sh", root.toString(), work.resolve("journal.txt").toString());
            }
            if (nspawn != null && nspawn.isAlive()) {
                // nspawn turns SIGTERM into SIGRTMIN+3 for the container's systemd: an orderly poweroff.
                nspawn.destroy();
                if (!nspawn.waitFor(30, TimeUnit.SECONDS)) {
                    nspawn.destroyForcibly();
                    nspawn.waitFor(10, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            cleanupInstance(name);
            lock.release();
            lockChannel.close();
            Files.deleteIfExists(Path.of(STATE_DIR, name + ".lock"));
        }
    }

    /** Removes what an instance may leave on the host: processes in its cgroups, cgroups, veth, mounts, rootfs. */
    static void cleanupInstance(String instance) throws IOException {
        List<CompletableFuture<ProcessHandle>> exits = new ArrayList<>();
        for (Path hierarchy : Host.cgroupHierarchies()) {
            Path group = hierarchy.resolve(instance);
            if (!Files.isDirectory(group, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            for (Path procs : Host.listTree(group, "cgroup.procs")) {
                for (String pid : Files.readAllLines(procs)) {
                    if (!pid.isBlank()) {
                        ProcessHandle.of(Long.parseLong(pid.strip())).ifPresent(process -> {
                            process.destroyForcibly();
                            exits.add(process.onExit());
                        });
                    }
                }
            }
        }
        // A cgroup can be removed only once its killed processes are gone: wait for their exits, then remove it.
        try {
            CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            System.err.println("systemd container " + instance + ": killed processes still there after 10 s: " + e);
        }
        for (Path hierarchy : Host.cgroupHierarchies()) {
            Path group = hierarchy.resolve(instance);
            if (Files.isDirectory(group, LinkOption.NOFOLLOW_LINKS) && !Host.rmdirTree(group)) {
                System.err.println("systemd container " + instance + ": could not remove " + group);
            }
        }
        try {
            Host.run(Duration.ofSeconds(10), "ip", "link", "del", "ve-" + instance);
            Path root = Path.of("/var/lib/machines", instance);
            for (Path dir : List.of(root, Path.of("/var/lib/machines", ".build-" + instance))) {
                for (String mount : Host.mountsBelow(dir)) {
                    Host.run(Duration.ofSeconds(30), "umount", "-l", mount);
                }
                if (Host.run(Duration.ofSeconds(10), "mountpoint", "-q", dir.toString()).exit() == 0) {
                    Host.run(Duration.ofSeconds(30), "umount", dir.toString()).ok();
                }
                if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                    Host.run(Duration.ofSeconds(120), "rm", "-rf", "--one-file-system", dir.toString()).ok();
                }
            }
            // nspawn leaves its propagation directory when /run is not a tmpfs (as on this VM).
            Host.run(Duration.ofSeconds(10), "rm", "-rf", "/run/systemd/nspawn/propagate/" + instance);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Cleans up instances of a killed run: those with our prefix whose lock no live process holds. */
    static void cleanupStale() throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> machines = Files.exists(Path.of("/var/lib/machines"))
                ? Files.list(Path.of("/var/lib/machines")) : Stream.empty()) {
            machines.map(p -> p.getFileName().toString().replaceFirst("^\\.build-", ""))
                    .filter(n -> n.startsWith(PREFIX)).forEach(names::add);
        }
        for (Path hierarchy : Host.cgroupHierarchies()) {
            try (Stream<Path> groups = Files.list(hierarchy)) {
                groups.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(PREFIX)).forEach(names::add);
            }
        }
        for (String stale : names.stream().distinct().sorted().toList()) {
            Path lockFile = Path.of(STATE_DIR, stale + ".lock");
            try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                FileLock held;
                try {
                    held = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    continue; // ours, alive
                }
                if (held == null) {
                    continue; // another live run's
                }
                System.err.println("systemd container: removing stale instance " + stale);
                cleanupInstance(stale);
                held.release();
            }
            Files.deleteIfExists(lockFile);
        }
    }

    /** A /30 for the veth that the host does not use yet. */
    private static String freeNet() throws IOException, InterruptedException {
        String addresses = Host.run(Duration.ofSeconds(10), "ip", "-o", "-4", "addr", "show").ok().out();
        for (int third = 77; third < 97; third++) {
            String candidate = "10.213." + third;
            if (!addresses.contains(" " + candidate + ".")) {
                return candidate;
            }
        }
        throw new IllegalStateException("no free 10.213.x.0/30 for the container's veth");
    }
}
