package io.istiovm.agent.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Who besides root can change a file the agent trusts, the way sshd's StrictModes asks it: the file and every
 * directory above it, up to {@code /}, along the path as written and along the path its links lead to, must be
 * owned by root and writable by nobody else. The assessment is pure over an {@link Inspector} (the host's lstat, or
 * a test's table); it reads no content and changes nothing.
 *
 * <p>One exception, because it is safe and universal: a directory with the sticky bit (/tmp, mode 1777) above a
 * root-owned <em>directory</em> is accepted, since nobody but root can rename or remove that directory there
 * (the kernel's sticky rule). A file directly in such a directory is refused: its name is anyone's to take first.
 */
public final class FileTrust {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;
    private static final int STICKY = 01000;
    private static final int GROUP_WRITE = 0020;
    private static final int OTHER_WRITE = 0002;
    /** As the kernel's limit on links followed in one lookup. */
    private static final int MAX_LINKS = 40;

    private FileTrust() {
    }

    /** What lstat says about one path: its owner, group and full mode (type bits included). */
    public record Status(long uid, long gid, int mode) {
        public boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        public boolean isLink() {
            return (mode & S_IFMT) == S_IFLNK;
        }

        /** The permission bits, as {@code 0644}. */
        public String permissions() {
            return String.format("%04o", mode & 07777);
        }
    }

    /** Reads a path's status without following a final link, and a link's target. */
    public interface Inspector {
        /** Empty when nothing is at {@code path}. */
        Optional<Status> lstat(Path path) throws IOException;

        Path readLink(Path link) throws IOException;

        /** The running host. */
        Inspector SYSTEM = new Inspector() {
            @Override
            public Optional<Status> lstat(Path path) throws IOException {
                try {
                    Map<String, Object> a = Files.readAttributes(path, "unix:uid,gid,mode", LinkOption.NOFOLLOW_LINKS);
                    return Optional.of(new Status(((Number) a.get("uid")).longValue(),
                            ((Number) a.get("gid")).longValue(), (Integer) a.get("mode")));
                } catch (NoSuchFileException e) {
                    return Optional.empty();
                }
            }

            @Override
            public Path readLink(Path link) throws IOException {
                return Files.readSymbolicLink(link);
            }
        };
    }

    /** Why a path lets someone other than root change what the agent reads. */
    public enum Kind { NOT_ROOT_OWNED, GROUP_WRITABLE, OTHER_WRITABLE, SHARED_DIRECTORY }

    /** One path in the chain that someone other than root can change, and the command that stops it. */
    public record Flaw(Path path, Status status, Kind kind) {
        public Flaw {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(status, "status");
            Objects.requireNonNull(kind, "kind");
        }

        /** {@code /var/lib/istio/envoy (directory) is owned by istio-proxy (uid 1337), group 1337, mode 0755}. */
        public String describe(Accounts accounts) {
            String what = path + (status.isDirectory() ? " (directory)" : "");
            String facts = "owned by " + accounts.describeUid(status.uid()) + ", group "
                    + accounts.groupWithGid(status.gid()).map(g -> g + " (gid " + status.gid() + ")")
                            .orElse("gid " + status.gid()) + ", mode " + status.permissions();
            return switch (kind) {
                case NOT_ROOT_OWNED -> what + " is " + facts;
                case GROUP_WRITABLE -> what + " is writable by its group: " + facts;
                case OTHER_WRITABLE -> what + " is writable by every user: " + facts;
                case SHARED_DIRECTORY -> what + " is a directory every user can create names in: " + facts;
            };
        }

        /** The exact command that removes this flaw; for a file in a shared directory, where to move it. */
        public String fix(Path file) {
            return switch (kind) {
                case NOT_ROOT_OWNED -> "chown root " + path;
                case GROUP_WRITABLE -> "chmod g-w " + path;
                case OTHER_WRITABLE -> "chmod o-w " + path;
                case SHARED_DIRECTORY -> "move " + file.getFileName() + " out of " + path
                        + " into a directory only root can write (install -d -o root -m 0755 DIR; "
                        + "install -o root -m 0644 " + file + " DIR/)";
            };
        }
    }

    /**
     * The flaws of {@code file} and of every directory above it, in path order (the file first), or none when
     * only root can change it. {@code file} need not exist: then the directories that would hold it are assessed.
     */
    public record Verdict(Path file, List<Flaw> flaws) {
        public Verdict {
            Objects.requireNonNull(file, "file");
            flaws = List.copyOf(flaws);
        }

        public boolean rootOnly() {
            return flaws.isEmpty();
        }

        /**
         * The one non-root user who can change the file, when that is all that is wrong: every flaw is ownership
         * by the same uid, nothing is group- or world-writable. Empty when only root can, or anyone else too.
         */
        public OptionalLong soleOtherWriter() {
            if (flaws.isEmpty() || flaws.stream().anyMatch(f -> f.kind() != Kind.NOT_ROOT_OWNED)) {
                return OptionalLong.empty();
            }
            long uid = flaws.get(0).status().uid();
            return flaws.stream().allMatch(f -> f.status().uid() == uid) ? OptionalLong.of(uid) : OptionalLong.empty();
        }

        /** Every flaw and its fix, for a message: {@code A is owned by ...; B is ... (fix: chown root A; ...)}. */
        public String explain(Accounts accounts) {
            List<String> facts = new ArrayList<>();
            Set<String> fixes = new LinkedHashSet<>();
            for (Flaw flaw : flaws) {
                facts.add(flaw.describe(accounts));
                fixes.add(flaw.fix(file));
            }
            return String.join("; ", facts) + " (fix: " + String.join(" && ", fixes) + ")";
        }
    }

    /** Assesses {@code file} on the running host. */
    public static Verdict assess(Path file) throws IOException {
        return assess(file, Inspector.SYSTEM);
    }

    public static Verdict assess(Path file, Inspector inspector) throws IOException {
        Path absolute = file.toAbsolutePath().normalize();
        List<Flaw> flaws = new ArrayList<>();
        Set<Path> seen = new LinkedHashSet<>();
        walk(absolute, inspector, flaws, seen, 0);
        return new Verdict(absolute, flaws);
    }

    /**
     * Assesses {@code path} and the directories above it; a link met on the way is assessed where it leads too
     * (the link itself cannot be changed, only replaced by whoever can write its directory, which is assessed).
     */
    private static void walk(Path path, Inspector inspector, List<Flaw> flaws, Set<Path> seen, int links)
            throws IOException {
        Status below = null;
        for (Path current = path; current != null; current = current.getParent()) {
            Optional<Status> status = inspector.lstat(current);
            if (status.isEmpty()) {
                below = null;
                continue;
            }
            Status s = status.get();
            if (s.isLink()) {
                if (links >= MAX_LINKS) {
                    // A loop: nothing can be opened through it (ELOOP), so there is nothing more to trust.
                    return;
                }
                Path parent = current.getParent() == null ? current : current.getParent();
                walk(parent.resolve(inspector.readLink(current)).normalize(), inspector, flaws, seen, links + 1);
            } else if (seen.add(current)) {
                check(current, s, below, flaws);
            }
            below = s;
        }
    }

    private static void check(Path path, Status status, Status below, List<Flaw> flaws) {
        if (status.uid() != 0) {
            flaws.add(new Flaw(path, status, Kind.NOT_ROOT_OWNED));
        }
        int mode = status.mode();
        boolean shared = status.isDirectory() && (mode & STICKY) != 0 && (mode & (GROUP_WRITE | OTHER_WRITE)) != 0;
        if (shared) {
            // Sticky: nobody but root may rename or remove what root owns here, so a root-owned directory below is
            // safe; a file directly here (or a name not yet taken) is not.
            boolean safe = below != null && below.isDirectory() && below.uid() == 0;
            if (!safe) {
                flaws.add(new Flaw(path, status, Kind.SHARED_DIRECTORY));
            }
            return;
        }
        if ((mode & GROUP_WRITE) != 0) {
            flaws.add(new Flaw(path, status, Kind.GROUP_WRITABLE));
        }
        if ((mode & OTHER_WRITE) != 0) {
            flaws.add(new Flaw(path, status, Kind.OTHER_WRITABLE));
        }
    }
}
