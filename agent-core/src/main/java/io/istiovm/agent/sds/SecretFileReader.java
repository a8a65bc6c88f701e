package io.istiovm.agent.sds;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.grpc.Status;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.Pem;
import io.istiovm.agent.fs.HeldDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Reads the files behind {@code file-root:} and {@code file-cert:} names. pilot-agent reads them as Envoy's own
 * user, so the kernel keeps it to what that user may read; this agent reads them as root, on the request of that
 * user (who may be hostile), so it keeps to what the settings allow instead:
 *
 * <ul>
 *   <li>a path Envoy names must be absolute, in normal form (no {@code .}, {@code ..}, doubled or trailing
 *       {@code /}) and below one of the allowed directories; the OS bundle (the agent's own pick) need not be;</li>
 *   <li>every component is opened relative to its held parent with O_NOFOLLOW ({@link HeldDirectory}); a symbolic
 *       link is followed only where no one but root can change it (its directory is root's and not group- or
 *       world-writable, as for RHEL's {@code /etc/pki/tls/certs/ca-bundle.crt}), so that no other user can point
 *       the agent at a file of their choosing, and no more than {@value #LINK_HOPS} times;</li>
 *   <li>the file must be a regular file of at most {@value #FILE_LIMIT} bytes (no FIFO to stall on), read on its
 *       descriptor, and hold what the name promises: certificates, or certificates and one private key.</li>
 * </ul>
 *
 * Refusals carry the gRPC status the stream ends with and a message naming the path, never file content.
 */
final class SecretFileReader {
    /** Larger than any OS bundle (Debian's is about 220 KB) and any certificate chain. */
    static final long FILE_LIMIT = 2L << 20;
    static final int LINK_HOPS = 16;

    private final List<Path> allowedDirectories;

    SecretFileReader(List<Path> allowedDirectories) {
        this.allowedDirectories = List.copyOf(allowedDirectories);
    }

    /** A secret read from files, versioned by a digest of their content. */
    record FileSecret(Secret secret, String version) {
    }

    /** Why a name cannot be served: the status its stream ends with. */
    static final class Refused extends Exception {
        private final Status.Code code;

        Refused(Status.Code code, String message) {
            super(message);
            this.code = code;
        }

        Status status() {
            return Status.fromCode(code).withDescription(getMessage());
        }
    }

    FileSecret read(FileSecretName name) throws Refused {
        if (name instanceof FileSecretName.SystemRoots system) {
            Path bundle = system.bundle().orElseThrow(() -> new Refused(Status.Code.NOT_FOUND,
                    "file-root:system: no OS trust bundle found (looked for " + SdsSettings.OS_TRUST_BUNDLES + ")"));
            byte[] content = readFile(bundle, bundle.toString());
            certificates(bundle.toString(), content);
            return new FileSecret(SecretsPlan.trust(name.name(), content), digest(List.of(content)));
        }
        if (name instanceof FileSecretName.RootFile root) {
            byte[] content = readFile(allowed(root.bundle(), name), root.bundle());
            certificates(root.bundle(), content);
            return new FileSecret(SecretsPlan.trust(name.name(), content), digest(List.of(content)));
        }
        FileSecretName.CertFile cert = (FileSecretName.CertFile) name;
        byte[] chain = readFile(allowed(cert.chain(), name), cert.chain());
        byte[] key = readFile(allowed(cert.key(), name), cert.key());
        certificates(cert.chain(), chain);
        try {
            Pem.privateKey(cert.key(), key);
        } catch (InvalidIdentityException e) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, e.getMessage());
        }
        return new FileSecret(SecretsPlan.certificate(name.name(), chain, key), digest(List.of(chain, key)));
    }

    /** {@code raw} as a path Envoy may name: absolute, normal, below an allowed directory. */
    private Path allowed(String raw, FileSecretName name) throws Refused {
        Path path;
        try {
            path = raw.startsWith("/") ? Path.of(raw) : null;
        } catch (java.nio.file.InvalidPathException e) {
            path = null;
        }
        if (path == null || !path.normalize().toString().equals(raw)) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, printable(name.name()) + ": '" + printable(raw)
                    + "' is not an absolute path in normal form");
        }
        for (Path directory : allowedDirectories) {
            if (path.startsWith(directory) && !path.equals(directory)) {
                return path;
            }
        }
        throw new Refused(Status.Code.PERMISSION_DENIED, printable(name.name()) + ": " + printable(raw)
                + " is outside the directories SDS may serve files from " + allowedDirectories
                + " (VM_AGENT_SDS_FILE_DIRS)");
    }

    private static void certificates(String shown, byte[] content) throws Refused {
        try {
            Pem.certificates(shown, content);
        } catch (InvalidIdentityException e) {
            throw new Refused(Status.Code.INVALID_ARGUMENT, e.getMessage());
        }
    }

    private static byte[] readFile(Path file, String shown) throws Refused {
        try {
            return readWithoutOthersLinks(file).content();
        } catch (NoSuchFileException e) {
            throw new Refused(Status.Code.NOT_FOUND, shown + " does not exist");
        } catch (IOException e) {
            throw new Refused(Status.Code.FAILED_PRECONDITION, e.getMessage());
        }
    }

    /** Walks {@code file} from / through held directories; see the class comment for which links it follows. */
    static HeldDirectory.RegularFile readWithoutOthersLinks(Path file) throws IOException {
        Path current = file;
        int hops = 0;
        walk:
        while (true) {
            HeldDirectory directory = HeldDirectory.open(Path.of("/"));
            try {
                Path real = Path.of("/");
                int count = current.getNameCount();
                if (count == 0) {
                    throw new IOException(file + ": is not a file");
                }
                for (int i = 0; i < count; i++) {
                    String entry = current.getName(i).toString();
                    if (Files.isSymbolicLink(directory.entry(entry))) {
                        if (!onlyRootWrites(directory)) {
                            throw new IOException(real.resolve(entry) + ": is a symbolic link in a directory "
                                    + "users other than root can write; refusing to follow it");
                        }
                        if (++hops > LINK_HOPS) {
                            throw new IOException(file + ": more than " + LINK_HOPS + " symbolic links");
                        }
                        Path target = real.resolve(Files.readSymbolicLink(directory.entry(entry)));
                        current = (i + 1 < count ? target.resolve(current.subpath(i + 1, count)) : target)
                                .normalize();
                        continue walk;
                    }
                    if (i == count - 1) {
                        return directory.readRegularFile(entry, FILE_LIMIT);
                    }
                    HeldDirectory next = directory.openDirectory(entry);
                    directory.close();
                    directory = next;
                    real = real.resolve(entry);
                }
            } finally {
                directory.close();
            }
        }
    }

    /** Owned by root and writable by no group or other user (read on the held descriptor). */
    private static boolean onlyRootWrites(HeldDirectory directory) throws IOException {
        var attributes = Files.readAttributes(directory.self(), "unix:uid,mode");
        return (Integer) attributes.get("uid") == 0 && ((Integer) attributes.get("mode") & 022) == 0;
    }

    private static String digest(List<byte[]> contents) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (byte[] content : contents) {
                sha.update(Long.toString(content.length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                sha.update((byte) ':');
                sha.update(content);
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A name from the wire, without control characters, for messages. */
    private static String printable(String raw) {
        StringBuilder out = new StringBuilder();
        for (char c : raw.toCharArray()) {
            out.append(Character.isISOControl(c) ? '?' : c);
        }
        return out.toString();
    }
}
