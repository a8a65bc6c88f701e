package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

/**
 * The text of one hosts source, read with limits: a regular file (symbolic links followed), at most
 * {@link #MAX_BYTES}, UTF-8 without NUL bytes. Anything else is one problem that names the file.
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
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (FileSystemException e) {
            return failed(file, 0, describe(e));
        } catch (IOException e) {
            return failed(file, 0, "cannot be read: " + e.getMessage());
        }
        if (bytes.length > MAX_BYTES) {
            return failed(file, 0, "grew past " + MAX_BYTES + " bytes (1 MiB) while being read");
        }
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                return failed(file, lineAt(bytes, i), "contains a NUL byte: this is a binary file, not a hosts source");
            }
        }
        try {
            String text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
            if (text.startsWith("\uFEFF")) {
                text = text.substring(1);
            }
            return new Result(new SourceText(file, text), null);
        } catch (CharacterCodingException e) {
            return failed(file, firstInvalidUtf8Line(bytes), "is not valid UTF-8 text");
        }
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

    private static int firstInvalidUtf8Line(byte[] bytes) {
        int start = 0;
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == '\n') {
                try {
                    StandardCharsets.UTF_8.newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(bytes, start, i - start));
                } catch (CharacterCodingException e) {
                    return lineAt(bytes, start);
                }
                start = i + 1;
            }
        }
        return 0;
    }
}
