package io.istiovm.agent.hosts;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies every extended attribute of a file (security.selinux, trusted.*, user.*, ...) through the xattr system
 * calls. Java's {@code UserDefinedFileAttributeView} sees only the user namespace, and the label that matters on
 * /etc/hosts is the SELinux one.
 */
final class ExtendedAttributes {
    private static final Logger LOG = LoggerFactory.getLogger(ExtendedAttributes.class);
    private static final int ENOTSUP = 95;
    private static final int ENODATA = 61;
    private static final int ERANGE = 34;

    /** The libc calls; the {@code l} variants, so that a symbolic link is never followed by accident. */
    private interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        long llistxattr(String path, byte[] list, long size) throws LastErrorException;

        long lgetxattr(String path, String name, byte[] value, long size) throws LastErrorException;

        int lsetxattr(String path, String name, byte[] value, long size, int flags) throws LastErrorException;

        /** Follows: for {@code /proc/self/fd/N}, which resolves to the open inode itself. */
        int setxattr(String path, String name, byte[] value, long size, int flags) throws LastErrorException;
    }

    private ExtendedAttributes() {
    }

    /** Names of {@code file}'s attributes; none when the file system has no extended attributes. */
    static List<String> names(Path file) {
        byte[] list = read(unused -> LibC.INSTANCE.llistxattr(file.toString(), null, 0),
                buffer -> LibC.INSTANCE.llistxattr(file.toString(), buffer, buffer.length));
        List<String> names = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < list.length; i++) {
            if (list[i] == 0) {
                if (i > start) {
                    names.add(new String(list, start, i - start, StandardCharsets.UTF_8));
                }
                start = i + 1;
            }
        }
        return names;
    }

    static byte[] get(Path file, String name) {
        return read(unused -> LibC.INSTANCE.lgetxattr(file.toString(), name, null, 0),
                buffer -> LibC.INSTANCE.lgetxattr(file.toString(), name, buffer, buffer.length));
    }

    static void set(Path file, String name, byte[] value) {
        LibC.INSTANCE.lsetxattr(file.toString(), name, value, value.length, 0);
    }

    /**
     * Copies every attribute of the entry {@code from} (a link there is read as the link, never followed) to the open
     * file {@code descriptor} ({@code /proc/self/fd/N}, so the attributes land on that inode whatever its name is
     * made to point at). An attribute the target file system or the agent's privileges do not allow is skipped with
     * a warning rather than failing the whole write.
     */
    static void copy(Path from, Path descriptor) {
        List<String> names;
        try {
            names = names(from);
        } catch (LastErrorException e) {
            if (e.getErrorCode() != ENOTSUP) {
                LOG.warn("{}: cannot list extended attributes (errno {}); none are copied", from, e.getErrorCode());
            }
            return;
        }
        for (String name : names) {
            try {
                byte[] value = get(from, name);
                LibC.INSTANCE.setxattr(descriptor.toString(), name, value, value.length, 0);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != ENODATA) {
                    LOG.warn("{}: extended attribute {} not kept (errno {})", from, name, e.getErrorCode());
                }
            }
        }
    }

    private interface SizeCall {
        long call(long unused) throws LastErrorException;
    }

    private interface FillCall {
        long call(byte[] buffer) throws LastErrorException;
    }

    /** Asks for the size, then reads; retries when the value grew in between (ERANGE). */
    private static byte[] read(SizeCall size, FillCall fill) {
        for (int attempt = 0; ; attempt++) {
            long needed = size.call(0);
            byte[] buffer = new byte[(int) needed];
            try {
                long got = needed == 0 ? 0 : fill.call(buffer);
                return got == buffer.length ? buffer : Arrays.copyOf(buffer, (int) got);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != ERANGE || attempt > 3) {
                    throw e;
                }
            }
        }
    }
}
