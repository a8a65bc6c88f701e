package io.istiovm.agent.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The host's users and groups (passwd and group), and the one rule that turns ENVOY_USER into the uid and gid Envoy
 * runs as. Tests give their own lists ({@link #of}); nothing here edits the host's files.
 */
public interface Accounts {
    /** Istio's uid and gid for istio-proxy when no such user exists on the host. */
    long ISTIO_PROXY_ID = 1337;

    /** One passwd entry: a name, its uid and its primary gid. */
    record Account(String name, long uid, long gid) {
        public Account {
            Objects.requireNonNull(name, "name");
            if (uid < 0 || gid < 0) {
                throw new IllegalArgumentException("uid and gid must not be negative");
            }
        }
    }

    Optional<Account> userNamed(String name);

    Optional<Account> userWithUid(long uid);

    /** The name of the group with {@code gid}, if the group file has one. */
    Optional<String> groupWithGid(long gid);

    /**
     * ENVOY_USER as Envoy's uid and gid. A name is looked up in passwd; a missing name gets Istio's 1337/1337, but
     * only when neither id belongs to another account or group (else Envoy would run as, or share files with,
     * someone else). A uid is used as is, with its passwd entry's primary group, else the same number. Uid 0 is
     * refused however it is spelled: Envoy parses traffic from the network and never runs as root.
     *
     * @throws InvalidValueException saying why the user cannot run Envoy
     */
    default Account envoyUser(UserRef user) throws InvalidValueException {
        Account account = user.name() != null ? named(user.name(), "ENVOY_USER to the account Envoy should run as")
                : userWithUid(user.uid().getAsLong()).orElse(new Account(Long.toString(user.uid().getAsLong()),
                        user.uid().getAsLong(), user.uid().getAsLong()));
        if (account.uid() == 0) {
            throw new InvalidValueException("is uid 0" + (user.name() != null ? " (" + user.name() + ")" : "")
                    + ": Envoy parses traffic from the network and must not run as root; set ENVOY_USER to "
                    + "istio-proxy (useradd --system istio-proxy) or another unprivileged account");
        }
        return account;
    }

    /**
     * The account called {@code name}, or Istio's 1337/1337 for istio-proxy when there is none, but only when
     * neither id belongs to another account or group (else the agent would hand rights to someone else). The one
     * fallback rule, for ENVOY_USER and VM_AGENT_CERTS_OWNER alike.
     *
     * @param setInstead how the message ends: "set KEY to ..."
     * @throws InvalidValueException naming the account or group that holds 1337
     */
    default Account named(String name, String setInstead) throws InvalidValueException {
        Optional<Account> named = userNamed(name);
        if (named.isPresent()) {
            return named.get();
        }
        Optional<Account> takenUid = userWithUid(ISTIO_PROXY_ID);
        if (takenUid.isPresent()) {
            throw new InvalidValueException("there is no user '" + name + "', and the fallback uid " + ISTIO_PROXY_ID
                    + " belongs to the account '" + takenUid.get().name() + "'; create the user (useradd --system "
                    + name + ") or set " + setInstead);
        }
        Optional<String> takenGid = groupWithGid(ISTIO_PROXY_ID);
        if (takenGid.isPresent()) {
            throw new InvalidValueException("there is no user '" + name + "', and the fallback gid " + ISTIO_PROXY_ID
                    + " belongs to the group '" + takenGid.get() + "'; create the user (useradd --system " + name
                    + ") or set " + setInstead);
        }
        return new Account(name, ISTIO_PROXY_ID, ISTIO_PROXY_ID);
    }

    /** The name of {@code uid} for messages: {@code istio-proxy (uid 1337)}, or {@code uid 1337} if it has none. */
    default String describeUid(long uid) {
        return userWithUid(uid).map(a -> a.name() + " (uid " + uid + ")").orElse("uid " + uid);
    }

    /** Lists given in full (tests, or a host without the files). */
    static Accounts of(List<Account> users, Map<Long, String> groups) {
        List<Account> copy = List.copyOf(users);
        Map<Long, String> groupCopy = Map.copyOf(groups);
        return new Accounts() {
            @Override
            public Optional<Account> userNamed(String name) {
                return copy.stream().filter(a -> a.name().equals(name)).findFirst();
            }

            @Override
            public Optional<Account> userWithUid(long uid) {
                return copy.stream().filter(a -> a.uid() == uid).findFirst();
            }

            @Override
            public Optional<String> groupWithGid(long gid) {
                return Optional.ofNullable(groupCopy.get(gid));
            }
        };
    }

    /** The host's passwd and group files, read at each question (they may change while the agent runs). */
    static Accounts files(Path passwd, Path group) {
        return new Accounts() {
            @Override
            public Optional<Account> userNamed(String name) {
                return users().stream().filter(a -> a.name().equals(name)).findFirst();
            }

            @Override
            public Optional<Account> userWithUid(long uid) {
                return users().stream().filter(a -> a.uid() == uid).findFirst();
            }

            @Override
            public Optional<String> groupWithGid(long gid) {
                for (String[] fields : entries(group)) {
                    if (fields.length >= 3 && fields[2].equals(Long.toString(gid))) {
                        return Optional.of(fields[0]);
                    }
                }
                return Optional.empty();
            }

            private List<Account> users() {
                List<Account> users = new ArrayList<>();
                for (String[] fields : entries(passwd)) {
                    if (fields.length >= 4) {
                        try {
                            users.add(new Account(fields[0], Long.parseLong(fields[2]), Long.parseLong(fields[3])));
                        } catch (IllegalArgumentException malformed) {
                            // A line that is not a passwd entry names nobody.
                        }
                    }
                }
                return users;
            }
        };
    }

    /** The host's /etc/passwd and /etc/group. */
    static Accounts system() {
        return files(Path.of("/etc/passwd"), Path.of("/etc/group"));
    }

    private static List<String[]> entries(Path file) {
        try {
            List<String[]> entries = new ArrayList<>();
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                entries.add(line.split(":", -1));
            }
            return entries;
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(file + ": cannot be read: " + e.getMessage(), e);
        }
    }
}
