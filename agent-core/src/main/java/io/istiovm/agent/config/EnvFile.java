package io.istiovm.agent.config;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A shell environment file such as cluster.env, read the way {@code . file} in a POSIX shell would read the
 * subset Istio's tooling writes: comments, blank lines, {@code export KEY=...}, single- and double-quoted values,
 * trailing whitespace and CRLF line ends. Anything else a shell would treat as code (expansions, operators,
 * commands after the value, continuation lines) is refused rather than guessed at.
 *
 * <p>The lines are lexed here rather than by jackson-dataformat-properties because a .properties reader follows
 * Java's rules (backslash escapes, {@code !} comments, continuation lines, quotes kept as data) and would misread
 * a shell file silently, without the line numbers errors must carry.
 */
public final class EnvFile {
    /** A configuration file larger than this is certainly not one. */
    public static final long MAX_BYTES = 1024 * 1024;

    /** One {@code KEY=value} line. */
    public record Assignment(String key, String value, Source.FileLine source) {
    }

    private final Path path;
    private final List<Assignment> assignments;
    private final List<ConfigProblem> problems;
    private final boolean exists;

    private EnvFile(Path path, boolean exists, List<Assignment> assignments, List<ConfigProblem> problems) {
        this.path = path;
        this.exists = exists;
        this.assignments = List.copyOf(assignments);
        this.problems = List.copyOf(problems);
    }

    public Path path() {
        return path;
    }

    public boolean exists() {
        return exists;
    }

    /** The well-formed assignments, in file order. */
    public List<Assignment> assignments() {
        return assignments;
    }

    /** Everything wrong with the file's syntax, in line order. */
    public List<ConfigProblem> problems() {
        return problems;
    }

    /**
     * Reads {@code readAt} with {@code reader} and lexes it, labelled as {@code path} (the loader reads the file
     * its links lead to only when root alone controls them). A missing file gives an empty result with
     * {@link #exists()} false; {@code read} is told the owner and mode of what it read.
     */
    public static EnvFile read(Path path, Path readAt, ConfigFileReader reader,
                               java.util.function.Consumer<ConfigFileReader.Content> read) {
        Source.FileLine whole = new Source.FileLine(path, 0);
        try {
            ConfigFileReader.Content content = reader.read(readAt, MAX_BYTES);
            read.accept(content);
            return parse(path, content.bytes());
        } catch (NoSuchFileException e) {
            return new EnvFile(path, false, List.of(), List.of());
        } catch (AccessDeniedException e) {
            return failed(path, whole, "cannot be read: permission denied");
        } catch (IOException e) {
            // The readers' messages start with the path they read, which the problem already names.
            String message = String.valueOf(e.getMessage());
            String prefix = readAt.toAbsolutePath() + ": ";
            return failed(path, whole, "cannot be read: " + (message.startsWith(prefix)
                    ? message.substring(prefix.length()) : message.startsWith(readAt + ": ")
                    ? message.substring(readAt.toString().length() + 2) : message));
        }
    }

    /** A file that cannot be used at all, for the reason given (its lines are not read). */
    public static EnvFile refused(Path path, String reason) {
        return failed(path, new Source.FileLine(path, 0), reason);
    }

    /** A file that is not there ({@link #exists()} false), for a configuration held in memory. */
    public static EnvFile absent(Path path) {
        return new EnvFile(path, false, List.of(), List.of());
    }

    private static EnvFile failed(Path path, Source source, String reason) {
        return new EnvFile(path, true, List.of(), List.of(ConfigProblem.error(source, null, null, reason)));
    }

    /** Lexes the bytes of a file; {@code path} is used only to label results. */
    public static EnvFile parse(Path path, byte[] bytes) {
        Source.FileLine whole = new Source.FileLine(path, 0);
        if (bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF) {
            return failed(path, new Source.FileLine(path, 1), "starts with a UTF-8 byte-order mark, which the shell "
                    + "would read as part of the first key; save the file without it");
        }
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                return failed(path, new Source.FileLine(path, lineOf(bytes, i)),
                        "contains a NUL byte: this is a binary file, not a shell environment file");
            }
        }
        String text;
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            text = decoder.decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return failed(path, new Source.FileLine(path, lineOf(bytes, firstInvalidUtf8(bytes))),
                    "is not valid UTF-8 text");
        }
        if (text.isBlank()) {
            return failed(path, whole, "is empty; an empty configuration file is most likely a failed copy. "
                    + "To run on defaults, put a comment line in it");
        }

        List<Assignment> assignments = new ArrayList<>();
        List<ConfigProblem> problems = new ArrayList<>();
        Map<String, Integer> firstLine = new HashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.endsWith("\r")) {
                line = line.substring(0, line.length() - 1);
            }
            Source.FileLine source = new Source.FileLine(path, i + 1);
            try {
                Assignment assignment = LineLexer.lex(line, source);
                if (assignment == null) {
                    continue;
                }
                Integer earlier = firstLine.putIfAbsent(assignment.key(), i + 1);
                if (earlier != null) {
                    problems.add(ConfigProblem.error(source, assignment.key(), assignment.value(),
                            "set again; already set on line " + earlier + " of this file"));
                    continue;
                }
                assignments.add(assignment);
            } catch (LineLexer.SyntaxError e) {
                problems.add(ConfigProblem.error(source, e.key, null, e.getMessage()));
            }
        }
        return new EnvFile(path, true, assignments, problems);
    }

    private static int lineOf(byte[] bytes, int offset) {
        int line = 1;
        for (int i = 0; i < offset && i < bytes.length; i++) {
            if (bytes[i] == '\n') {
                line++;
            }
        }
        return line;
    }

    private static int firstInvalidUtf8(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        int lineStart = 0;
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == '\n') {
                try {
                    decoder.reset().decode(ByteBuffer.wrap(bytes, lineStart, i - lineStart));
                } catch (CharacterCodingException e) {
                    return lineStart;
                }
                lineStart = i + 1;
            }
        }
        return bytes.length;
    }

    /** The grammar of one line. */
    static final class LineLexer {
        static final class SyntaxError extends Exception {
            private static final long serialVersionUID = 1L;
            final String key;

            SyntaxError(String key, String message) {
                super(message, null, false, false);
                this.key = key;
            }
        }

        private final String line;
        private int pos;
        private String key;

        private LineLexer(String line) {
            this.line = line;
        }

        /** Returns the assignment on the line, or null for a blank or comment line. */
        static Assignment lex(String line, Source.FileLine source) throws SyntaxError {
            LineLexer lexer = new LineLexer(line);
            return lexer.lex(source);
        }

        private Assignment lex(Source.FileLine source) throws SyntaxError {
            skipBlanks();
            if (atEnd() || peek() == '#') {
                return null;
            }
            if (line.startsWith("export", pos) && (pos + 6 == line.length() || isBlank(line.charAt(pos + 6)))) {
                pos += 6;
                skipBlanks();
                if (atEnd()) {
                    throw error("'export' without an assignment");
                }
            }
            int keyStart = pos;
            if (!isNameStart(peek())) {
                throw error("expected KEY=value, found " + describe(peek()) + " at column " + (pos + 1));
            }
            while (!atEnd() && isNameChar(peek())) {
                pos++;
            }
            key = line.substring(keyStart, pos);
            if (atEnd() || peek() == '#') {
                throw error("'" + key + "' has no '=value'; write " + key + "=VALUE");
            }
            if (isBlank(peek())) {
                int save = pos;
                skipBlanks();
                if (!atEnd() && peek() == '=') {
                    throw error("spaces around '=' are not allowed in a shell assignment; write " + key + "=VALUE");
                }
                pos = save;
                throw error("'" + key + "' has no '=value'; write " + key + "=VALUE");
            }
            if (peek() != '=') {
                key = null;
                throw error("'" + describe(peek()) + "' at column " + (pos + 1)
                        + " is not allowed in a key name (letters, digits and _ only)");
            }
            pos++;
            String value = value();
            skipBlanks();
            if (!atEnd() && peek() != '#') {
                throw error("unquoted space in the value: the shell would run '" + line.substring(pos).strip()
                        + "' as a command; quote the whole value");
            }
            return new Assignment(key, value, source);
        }

        private String value() throws SyntaxError {
            StringBuilder out = new StringBuilder();
            while (!atEnd() && !isBlank(peek())) {
                char c = peek();
                switch (c) {
                    case '\'' -> singleQuoted(out);
                    case '"' -> doubleQuoted(out);
                    case '\\' -> {
                        if (pos + 1 >= line.length()) {
                            throw error("a trailing backslash (line continuation) is not supported; put the value "
                                    + "on one line");
                        }
                        char escaped = line.charAt(pos + 1);
                        if (VisibleText.isControl(escaped) && escaped != '\t') {
                            throw error(describe(escaped) + " at column " + (pos + 2) + " (escaped with '\\') "
                                    + "is not allowed");
                        }
                        out.append(escaped);
                        pos += 2;
                    }
                    case '$' -> throw error("'$' at column " + (pos + 1) + ": variable expansion is not supported; "
                            + "write the value out, or quote it in single quotes");
                    case '`' -> throw error("'`' at column " + (pos + 1) + ": command substitution is not supported");
                    case ';', '&', '|', '<', '>', '(', ')' -> throw error("shell operator '" + c + "' at column "
                            + (pos + 1) + " is not supported; one assignment per line, quote the value if '" + c
                            + "' is part of it");
                    default -> {
                        if (VisibleText.isControl(c)) {
                            throw error(describe(c) + " at column " + (pos + 1) + " is not allowed");
                        }
                        out.append(c);
                        pos++;
                    }
                }
            }
            return out.toString();
        }

        private void singleQuoted(StringBuilder out) throws SyntaxError {
            int open = pos++;
            int close = line.indexOf('\'', pos);
            if (close < 0) {
                throw error("unterminated single quote (opened at column " + (open + 1)
                        + "); a value cannot span lines");
            }
            String content = line.substring(pos, close);
            checkControl(content, pos);
            out.append(content);
            pos = close + 1;
        }

        private void doubleQuoted(StringBuilder out) throws SyntaxError {
            int open = pos++;
            while (true) {
                if (atEnd()) {
                    throw error("unterminated double quote (opened at column " + (open + 1)
                            + "); a value cannot span lines");
                }
                char c = line.charAt(pos);
                if (c == '"') {
                    pos++;
                    return;
                }
                if (c == '\\' && pos + 1 < line.length() && "\"\\$`".indexOf(line.charAt(pos + 1)) >= 0) {
                    out.append(line.charAt(pos + 1));
                    pos += 2;
                    continue;
                }
                if (c == '$') {
                    throw error("'$' at column " + (pos + 1) + ": variable expansion is not supported; write the "
                            + "value out, or escape it as \\$");
                }
                if (c == '`') {
                    throw error("'`' at column " + (pos + 1) + ": command substitution is not supported");
                }
                if (VisibleText.isControl(c) && c != '\t') {
                    throw error(describe(c) + " at column " + (pos + 1) + " is not allowed");
                }
                out.append(c);
                pos++;
            }
        }

        private void checkControl(String content, int offset) throws SyntaxError {
            for (int i = 0; i < content.length(); i++) {
                char c = content.charAt(i);
                if (VisibleText.isControl(c) && c != '\t') {
                    throw error(describe(c) + " at column " + (offset + i + 1) + " is not allowed");
                }
            }
        }

        private SyntaxError error(String message) {
            return new SyntaxError(key, message);
        }

        private static String describe(char c) {
            return VisibleText.needsEscape(c) ? VisibleText.describe(c) : String.valueOf(c);
        }

        private void skipBlanks() {
            while (!atEnd() && isBlank(peek())) {
                pos++;
            }
        }

        private boolean atEnd() {
            return pos >= line.length();
        }

        private char peek() {
            return line.charAt(pos);
        }

        private static boolean isBlank(char c) {
            return c == ' ' || c == '\t';
        }

        private static boolean isNameStart(char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        }

        private static boolean isNameChar(char c) {
            return isNameStart(c) || (c >= '0' && c <= '9');
        }
    }
}
