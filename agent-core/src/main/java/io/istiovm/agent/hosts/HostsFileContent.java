package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.InvalidValueException;
import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The current bytes of a hosts file, split into the agent's block and everything else. The file is UTF-8 (glibc
 * and every resolver read it as bytes; UTF-8 is what the agent writes): it is decoded strictly, so a file that is
 * not UTF-8 is refused with its line rather than rewritten with '?' or re-encoded, and strictly decoded text encodes
 * back to the same bytes, so everything outside the block is kept byte for byte: CRLF, tabs, comments in any
 * script, a missing final newline.
 */
public final class HostsFileContent {
    private final Path path;
    private final byte[] bytes;
    private final String text;
    /** Offset of the BEGIN line, or -1 without a block. */
    private final int blockStart;
    /** Offset just past the END line's line end. */
    private final int blockEnd;

    private HostsFileContent(Path path, byte[] bytes, String text, int blockStart, int blockEnd) {
        this.path = path;
        this.bytes = bytes.clone();
        this.text = text;
        this.blockStart = blockStart;
        this.blockEnd = blockEnd;
    }

    /**
     * @throws ConfigException when the file is not UTF-8 (the line is named) or the block's markers are damaged (a
     *                         lone BEGIN or END, or two blocks)
     */
    public static HostsFileContent parse(Path path, byte[] bytes) throws ConfigException {
        Optional<String> decoded = Utf8.decode(bytes);
        if (decoded.isEmpty()) {
            throw damaged(path, Utf8.firstInvalidLine(bytes), "is not valid UTF-8 text; the agent writes the hosts "
                    + "file as UTF-8 and will not re-encode the rest of it: convert it (iconv -t UTF-8) or remove "
                    + "the bytes");
        }
        String text = decoded.get();
        int begin = -1;
        int beginLine = 0;
        int end = -1;
        int offset = 0;
        int lineNumber = 0;
        while (offset < text.length()) {
            lineNumber++;
            int newline = text.indexOf('\n', offset);
            int next = newline < 0 ? text.length() : newline + 1;
            String line = text.substring(offset, newline < 0 ? text.length() : newline);
            if (line.startsWith(HostsBlock.BEGIN_PREFIX)) {
                if (begin >= 0) {
                    throw damaged(path, lineNumber, "a second istio-vm-agent block begins here (the first begins at "
                            + "line " + beginLine + "); delete one of them by hand");
                }
                begin = offset;
                beginLine = lineNumber;
            } else if (line.startsWith(HostsBlock.END_PREFIX)) {
                if (begin < 0 || end >= 0) {
                    throw damaged(path, lineNumber, "END marker of the istio-vm-agent block without a BEGIN marker "
                            + "before it; the block was edited by hand: delete this line or restore the BEGIN line");
                }
                end = next;
            }
            offset = next;
        }
        if (begin >= 0 && end < 0) {
            throw damaged(path, beginLine, "BEGIN marker of the istio-vm-agent block has no END marker; the block "
                    + "was edited by hand: restore the END line or delete the block");
        }
        return new HostsFileContent(path, bytes, text, begin, end);
    }

    private static ConfigException damaged(Path path, int line, String reason) {
        return new ConfigException(List.of(ConfigProblem.error(new Source.FileLine(path, line), null, null, reason)));
    }

    public Path path() {
        return path;
    }

    public byte[] bytes() {
        return bytes.clone();
    }

    public boolean hasBlock() {
        return blockStart >= 0;
    }

    /** The block as it is in the file now (markers included), or "" without one. */
    public String currentBlock() {
        return hasBlock() ? text.substring(blockStart, blockEnd) : "";
    }

    /**
     * The file with {@code block} in place of the current one. A new block goes first in the file: glibc takes the
     * first line that names a host, so the agent's addresses win over stale hand-written lines, and nothing
     * outside the block has to move (not even a missing final newline).
     */
    public byte[] withBlock(HostsBlock block) {
        if (block.isEmpty()) {
            return withoutBlock();
        }
        String rendered = block.render();
        String result = hasBlock()
                ? text.substring(0, blockStart) + rendered + text.substring(blockEnd)
                : rendered + text;
        return result.getBytes(StandardCharsets.UTF_8);
    }

    /** The file without the block: exactly the bytes outside it. */
    public byte[] withoutBlock() {
        if (!hasBlock()) {
            return bytes.clone();
        }
        return (text.substring(0, blockStart) + text.substring(blockEnd)).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Warnings for names the block maps that a line outside it maps to another address of the same family.
     * Lines outside the block are not the agent's to judge, so anything unparsable there is ignored.
     */
    List<ConfigProblem> conflictsOutside(HostsBlock block) {
        List<ConfigProblem> warnings = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        int blockFirstLine = hasBlock() ? lineOf(blockStart) : -1;
        int blockLastLine = hasBlock() ? lineOf(blockEnd - 1) : -1;
        List<String> outside = new ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            boolean inBlock = i + 1 >= blockFirstLine && i + 1 <= blockLastLine;
            outside.add(inBlock ? "" : lines[i]);
        }
        for (HostsFormat.Mapping mapping : HostsFormat.mappings(outside)) {
            InetAddress address;
            try {
                address = IpAddresses.parse(mapping.address());
            } catch (InvalidValueException e) {
                continue;
            }
            for (String name : mapping.names()) {
                for (HostsEntry entry : block.entries(name.toLowerCase(Locale.ROOT))) {
                    if (entry.sameFamily(address) && !entry.address().equals(address)) {
                        warnings.add(ConfigProblem.warning(new Source.FileLine(path, mapping.line()), null, null,
                                name + " is also mapped to " + IpAddresses.format(address) + " here, outside the "
                                        + "istio-vm-agent block, which maps it to "
                                        + IpAddresses.format(entry.address()) + " (" + entry.origin()
                                        + "); resolvers may answer either, remove this line"));
                        break;
                    }
                }
            }
        }
        return warnings;
    }

    private int lineOf(int offset) {
        int line = 1;
        for (int i = 0; i < offset; i++) {
            if (text.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }
}
