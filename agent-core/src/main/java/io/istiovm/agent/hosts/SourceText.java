package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.fs.TrustedLinks;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;

/**
 * The text of one hosts source, read with limits through the fs layer: a regular file (symbolic links followed only
 * when root owns them), at most {@link #MAX_BYTES}, strict UTF-8 without NUL bytes. Anything else is one problem
 * that names the file (and the line, for bad bytes).
 */
record SourceText(Path file, String text) {
    /** Generous for hand-written names and manifests; a larger file is almost certainly the wrong file. */
    static final int MAX_BYTES = 1024 * 1024;

    /** Either the text or the problem that stopped reading it. */
    record Result(SourceText text, ConfigProblem problem) {
    }

    static Result read(Path file) {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return failed(file, 0, Files.isSymbolicLink(file)
                    ? "is a symbolic link to a file that does not exist" : "does not exist");
        } catch (FileSystemException e) {
            return failed(file, 0, describe(e));
        } catch (IOException e) {
            return failed(file, 0, "cannot be read: " + e.getMessage());
        }
        if (!attributes.isRegularFile()) {
            return failed(file, 0, "is not a regular file (" + (attributes.isDirectory() ? "a directory" : "a device, "
                    + "pipe or socket") + "); only regular files are read as hosts sources");
        }
        if (attributes.size() > MAX_BYTES) {
            return failed(file, 0, "is " + attributes.size() + " bytes; a hosts source may be at most " + MAX_BYTES
                    + " bytes (1 MiB)");
        }
        byte[] bytes;
        try {
            // The checks above name the problem; this read is what holds: no link but root's is followed, the open
            // never blocks on a FIFO that appeared since, and no more than the limit is ever read.
            Path real = TrustedLinks.resolve(file);
            bytes = HeldDirectory.readRegularFile(real, MAX_BYTES).content();
        } catch (NoSuchFileException e) {
            return failed(file, 0, "does not exist");
        } catch (FileSystemException e) {
            return failed(file, 0, describe(e));
        } catch (IOException e) {
            return failed(file, 0, withoutPath(e.getMessage(), file));
        }
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                return failed(file, lineAt(bytes, i), "contains a NUL byte: this is a binary file, not a hosts source");
            }
        }
        Optional<String> decoded = Utf8.decode(bytes);
        if (decoded.isEmpty()) {
            return failed(file, Utf8.firstInvalidLine(bytes), "is not valid UTF-8 text");
        }
        String text = decoded.get();
        return new Result(new SourceText(file, text.startsWith("\uFEFF") ? text.substring(1) : text), null);
    }

    /** The lines of the text, without their line ends (LF or CRLF). */
    List<String> lines() {
        return List.of(text.split("\r?\n", -1));
    }

    private static String describe(FileSystemException e) {
        if (e instanceof AccessDeniedException) {
            return "cannot be read: permission denied";
        }
        String reason = e.getReason() == null ? e.getMessage() : e.getReason();
        if (reason.contains("Too many levels of symbolic links")) {
            return "is a symbolic link loop";
        }
        return "cannot be read: " + reason;
    }

    /** A message of the fs layer without the path it starts with, which the problem's location already shows. */
    private static String withoutPath(String message, Path file) {
        String prefix = file.toAbsolutePath() + ": ";
        if (message.startsWith(prefix)) {
            return message.substring(prefix.length());
        }
        int colon = message.indexOf(": ");
        return colon > 0 && message.startsWith("/") ? message.substring(colon + 2) : message;
    }

    private static Result failed(Path file, int line, String reason) {
        return new Result(null, ConfigProblem.error(new Source.FileLine(file, line), null, null, reason));
    }

    private static int lineAt(byte[] bytes, int index) {
        int line = 1;
        for (int i = 0; i < index; i++) {
            if (bytes[i] == '\n') {
                line++;
            }
        }
        return line;
    }
}
