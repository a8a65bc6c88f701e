package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigProblem;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * What the hosts file should become: computed from the sources and the file's current bytes, changing nothing.
 * {@code hosts plan} prints it; {@link HostsFileWriter} applies it.
 */
public record HostsPlan(Path target, HostsFileContent current, HostsBlock block, byte[] desired,
                        List<ConfigProblem> warnings) {

    public HostsPlan {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(current, "current");
        Objects.requireNonNull(block, "block");
        desired = desired.clone();
        warnings = List.copyOf(warnings);
    }

    @Override
    public byte[] desired() {
        return desired.clone();
    }

    public boolean changes() {
        return !Arrays.equals(current.bytes(), desired);
    }

    /** The block that will be in the file afterwards ("" for none). */
    public String desiredBlock() {
        return block.isEmpty() ? "" : block.render();
    }

    /**
     * Prints the target, whether it changes, and a line diff of the block ({@code -} removed, {@code +} added). The
     * current block may have been edited by hand, so control characters in it are shown as escapes.
     */
    public void describe(PrintWriter out) {
        out.println("# hosts file: " + target + (changes() ? " (changes)" : " (up to date)"));
        Set<String> before = new LinkedHashSet<>(lines(current.currentBlock()));
        Set<String> after = new LinkedHashSet<>(lines(desiredBlock()));
        for (String line : after) {
            out.println((before.contains(line) ? "  " : "+ ") + HostsNames.escaped(line, false));
        }
        for (String line : before) {
            if (!after.contains(line)) {
                out.println("- " + HostsNames.escaped(line, false));
            }
        }
    }

    private static List<String> lines(String block) {
        if (block.isEmpty()) {
            return List.of();
        }
        return List.of(block.split("\r?\n"));
    }
}
