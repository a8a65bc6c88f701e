package io.istiovm.agent.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;

/**
 * Reads one configuration file for {@link ConfigLoader}: regular files only, a final link refused, at most a
 * limit of bytes, with the owner and mode of what was read. The command line gives one backed by the fs layer
 * (non-blocking open on the descriptor, so a FIFO cannot stall the agent); {@link #PLAIN} is for tools and tests.
 */
@FunctionalInterface
public interface ConfigFileReader {

    /** A file's bytes and the owner and permission bits of the inode they were read from. */
    record Content(byte[] bytes, long uid, int mode) {
    }

    /**
     * @throws java.nio.file.NoSuchFileException when nothing is at {@code file}
     * @throws IOException when it is not a regular file, is a link, is larger than {@code limit} or cannot be read
     */
    Content read(Path file, long limit) throws IOException;

    /**
     * With java.nio, for tools and tests that run on files nobody else controls: the type is checked before the
     * open (a FIFO swapped in between would block; the agent itself uses the fs-backed reader), the open refuses a
     * link, and no more than {@code limit} bytes are ever read, even from a file that grows meanwhile.
     */
    ConfigFileReader PLAIN = (file, limit) -> {
        Map<String, Object> attributes = Files.readAttributes(file, "unix:uid,mode,size", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) attributes.get("mode");
        if ((mode & 0170000) != 0100000) {
            throw new IOException(file + ": is not a regular file");
        }
        long size = (Long) attributes.get("size");
        if (size > limit) {
            throw new IOException(file + ": is " + size + " bytes, more than the " + limit + " allowed");
        }
        try (var channel = Files.newByteChannel(file, java.nio.file.StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
             var in = java.nio.channels.Channels.newInputStream(channel)) {
            byte[] bytes = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
            if (bytes.length > limit) {
                throw new IOException(file + ": grew past the " + limit + " bytes allowed while being read");
            }
            return new Content(bytes, ((Number) attributes.get("uid")).longValue(), mode & 07777);
        }
    };
}
