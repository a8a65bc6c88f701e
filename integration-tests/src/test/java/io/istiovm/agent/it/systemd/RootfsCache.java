package io.istiovm.agent.it.systemd;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The container's root file system as a cached tarball: debootstrap minbase of {@link SystemdContainer#SUITE} with
 * {@link SystemdContainer#PACKAGES}, the suite's updates and security updates applied, then packed with zstd. Built
 * at most once at a time (a lock file beside the cache: concurrent runs wait and reuse the result).
 */
final class RootfsCache {
    private RootfsCache() {
    }

    /** Mirrors of the host's own apt sources, so the repository names no registry host. */
    record Mirrors(String main, String security) {
    }

    /** The tarball for the current key: the cached one when fresh, else built now into the cache. */
    static Path ensure(String instance, Path work) throws IOException, InterruptedException {
        Mirrors mirrors = hostMirrors();
        Path cacheDir = Path.of(SystemdContainer.CACHE_DIR);
        Files.createDirectories(cacheDir);
        Path tarball = cacheDir.resolve(SystemdContainer.SUITE + "-" + key(mirrors) + ".tar.zst");
        if (fresh(tarball)) {
            return tarball;
        }
        try (FileChannel channel = FileChannel.open(cacheDir.resolve(".build.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock ignored = channel.lock()) {
            if (!fresh(tarball)) {
                build(instance, work, mirrors, tarball);
            }
        }
        return tarball;
    }

    private static boolean fresh(Path tarball) throws IOException {
        return Files.isRegularFile(tarball) && Files.size(tarball) > 0 && Files.getLastModifiedTime(tarball)
                .toInstant().isAfter(Instant.now().minus(SystemdContainer.CACHE_MAX_AGE));
    }

    static String key(Mirrors mirrors) {
        String input = String.join("|", SystemdContainer.SUITE, String.join(",", SystemdContainer.PACKAGES),
                mirrors.main(), mirrors.security(), Integer.toString(SystemdContainer.FORMAT));
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(input.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void build(String instance, Path work, Mirrors mirrors, Path tarball)
            throws IOException, InterruptedException {
        Path build = Path.of("/var/lib/machines", ".build-" + instance);
        Files.createDirectories(build);
        Host.run(Duration.ofSeconds(10), "mount", "-t", "tmpfs", "-o", "mode=0755,size=4G", "vmit-build", build.toString())
                .ok();
        try {
            Path log = work.resolve("debootstrap.log");
            var debootstrap = Host.run(Duration.ofMinutes(10), "debootstrap", "--variant=minbase",
                    "--include=" + String.join(",", SystemdContainer.PACKAGES), SystemdContainer.SUITE, build.toString(),
                    mirrors.main());
            Files.writeString(log, debootstrap.out() + debootstrap.err());
            debootstrap.ok();
            Files.deleteIfExists(build.resolve("etc/apt/sources.list"));
            Files.writeString(build.resolve("etc/apt/sources.list.d/debian.sources"), String.join("\n",
                    "Types: deb", "URIs: " + mirrors.main(),
                    "Suites: " + SystemdContainer.SUITE + " " + SystemdContainer.SUITE + "-updates",
                    "Components: main", "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg", "",
                    "Types: deb", "URIs: " + mirrors.security(), "Suites: " + SystemdContainer.SUITE + "-security",
                    "Components: main", "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg", ""));
            // The host's apt settings the mirror may need (a proxy; Check-Valid-Until for a snapshot mirror).
            try (Stream<Path> confs = Files.list(Path.of("/etc/apt/apt.conf.d"))) {
                for (Path conf : confs.toList()) {
                    String text = Files.readString(conf);
                    if (text.contains("Proxy") || text.contains("Check-Valid-Until") || text.contains("Check-Date")) {
                        Files.copy(conf, build.resolve("etc/apt/apt.conf.d").resolve(conf.getFileName()),
                                StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            // The updates, applied in the new tree with the host's network (nspawn without --boot).
            Process upgrade = Host.inCgroup(instance, List.of("systemd-nspawn", "--register=no", "--keep-unit", "-q",
                    "--pipe", "-D", build.toString(), "-M", instance, "--resolv-conf=copy-host",
                    "-E", "DEBIAN_FRONTEND=noninteractive", "/bin/sh", "-c",
                    "apt-get update -qq && apt-get -y -qq dist-upgrade && apt-get clean"), work.resolve("upgrade.log"));
            if (!upgrade.waitFor(10, java.util.concurrent.TimeUnit.MINUTES) || upgrade.exitValue() != 0) {
                upgrade.destroyForcibly();
                throw new AssertionError("apt-get dist-upgrade in the new rootfs failed:\n"
                        + Files.readString(work.resolve("upgrade.log")));
            }
            for (Path hierarchy : Host.cgroupHierarchies()) {
                Host.rmdirTree(hierarchy.resolve(instance));
            }
            // Quiet, deterministic boots: a new machine-id at every boot, no timers or gettys doing random work.
            Files.writeString(build.resolve("etc/machine-id"), "");
            Files.deleteIfExists(build.resolve("var/lib/dbus/machine-id"));
            for (String unit : List.of("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
                    "e2scrub_all.timer", "fstrim.timer", "console-getty.service", "getty@.service",
                    "systemd-timesyncd.service")) {
                Path mask = build.resolve("etc/systemd/system").resolve(unit);
                Files.deleteIfExists(mask);
                Files.createSymbolicLink(mask, Path.of("/dev/null"));
            }
            Host.run(Duration.ofSeconds(60), "sh", "-c", "rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*.bin"
                    + " \"$1\"/var/log/journal/*", "sh", build.toString()).ok();
            Path partial = tarball.resolveSibling(tarball.getFileName() + ".tmp." + ProcessHandle.current().pid());
            Host.pipe(Duration.ofMinutes(5), List.of("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                    "--acls", "-C", build.toString(), "-cf", "-", "."), List.of("zstd", "-q", "-T0", "-3", "-f", "-o",
                    partial.toString())).ok();
            Files.move(partial, tarball, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Host.run(Duration.ofSeconds(30), "umount", build.toString());
            Host.run(Duration.ofSeconds(60), "rm", "-rf", "--one-file-system", build.toString());
        }
    }

    /** The first Debian and the first security URI of the host's enabled "deb" sources (deb822 and one-line). */
    static Mirrors hostMirrors() throws IOException {
        List<String> uris = new ArrayList<>();
        Path dir = Path.of("/etc/apt/sources.list.d");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.filter(f -> f.toString().endsWith(".sources")).sorted().toList()) {
                    uris.addAll(deb822Uris(Files.readAllLines(file)));
                }
            }
        }
        List<Path> oneLine = new ArrayList<>(List.of(Path.of("/etc/apt/sources.list")));
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                files.filter(f -> f.toString().endsWith(".list")).sorted().forEach(oneLine::add);
            }
        }
        for (Path file : oneLine) {
            if (Files.isRegularFile(file)) {
                for (String line : Files.readAllLines(file)) {
                    String[] words = line.strip().split("\\s+");
                    if (words.length > 2 && words[0].equals("deb")) {
                        int i = 1;
                        if (words[i].startsWith("[")) {
                            while (i < words.length && !words[i].endsWith("]")) {
                                i++;
                            }
                            i++;
                        }
                        if (i < words.length) {
                            uris.add(words[i]);
                        }
                    }
                }
            }
        }
        String main = uris.stream().filter(u -> !u.contains("-security")).filter(u -> u.matches(".*/debian/?$"))
                .findFirst().orElseThrow(() -> new IllegalStateException(
                        "no Debian mirror in the host's apt sources to build the container from: " + uris));
        main = main.replaceAll("/+$", "");
        String security = uris.stream().filter(u -> u.contains("-security")).findFirst().orElse(main + "-security")
                .replaceAll("/+$", "");
        return new Mirrors(main, security);
    }

    private static List<String> deb822Uris(List<String> lines) {
        List<String> uris = new ArrayList<>();
        boolean deb = false;
        List<String> pending = new ArrayList<>();
        for (String raw : lines) {
            String line = raw.strip();
            if (line.isEmpty()) {
                if (deb) {
                    uris.addAll(pending);
                }
                deb = false;
                pending.clear();
            } else if (line.startsWith("Types:")) {
                deb = List.of(line.substring(6).strip().split("\\s+")).contains("deb");
            } else if (line.startsWith("Enabled:") && line.substring(8).strip().equalsIgnoreCase("no")) {
                pending.clear();
                deb = false;
            } else if (line.startsWith("URIs:")) {
                pending.addAll(List.of(line.substring(5).strip().split("\\s+")));
            }
        }
        if (deb) {
            uris.addAll(pending);
        }
        return uris;
    }
}
