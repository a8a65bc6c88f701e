package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import java.io.IOException;
import io.istiovm.agent.fs.HeldDirectory;
import io.istiovm.agent.fs.TrustedLinks;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Computes {@link HostsPlan}s: reads sources and the hosts file, writes nothing. */
public final class HostsPlanner {
    /**
     * Above any real hosts file (ad-blocking lists run to a few MB), and small enough that the file, its text and
     * the rewritten copy fit the daemon's 64 MB heap together; guards memory, not taste.
     */
    static final int MAX_HOSTS_FILE_BYTES = 8 * 1024 * 1024;

    private HostsPlanner() {
    }

    /** The plan that puts the block the sources ask for into the hosts file of {@code settings}. */
    public static HostsPlan apply(HostsSettings settings) throws ConfigException, IOException {
        Path target = settings.target();
        HostsSources.Desired desired = HostsSources.read(settings);
        HostsBlock block = HostsBlock.of(desired.entries());
        HostsFileContent current = HostsFileContent.parse(target, readTarget(target));
        List<ConfigProblem> warnings = new ArrayList<>(desired.warnings());
        byte[] result = current.withBlock(block);
        // Line numbers of the file as it will be, which is what the operator opens after the write.
        warnings.addAll(HostsFileContent.parse(target, result).conflictsOutside(block));
        return new HostsPlan(target, current, block, result, warnings);
    }

    /** The plan that removes the block and leaves every other byte of {@code target} as it is. */
    public static HostsPlan clean(Path target) throws ConfigException, IOException {
        HostsFileContent current = HostsFileContent.parse(target, readTarget(target));
        return new HostsPlan(target, current, HostsBlock.empty(), current.withoutBlock(), List.of());
    }

    /**
     * The file's bytes; a missing file reads as empty (writing creates it). Read through the fs layer: the file is
     * reached through root's symbolic links only, must be a regular file (a FIFO is refused without blocking), and
     * at most {@link #MAX_HOSTS_FILE_BYTES} are read.
     */
    static byte[] readTarget(Path target) throws IOException, ConfigException {
        Path real = TrustedLinks.resolve(target);
        try (HeldDirectory directory = HeldDirectory.open(real.getParent())) {
            String name = real.getFileName().toString();
            try {
                long size = (Long) Files.getAttribute(directory.entry(name), "size", LinkOption.NOFOLLOW_LINKS);
                if (size > MAX_HOSTS_FILE_BYTES) {
                    throw new ConfigException(List.of(ConfigProblem.error(new Source.FileLine(target, 0), null, null,
                            "is " + size + " bytes, larger than " + MAX_HOSTS_FILE_BYTES + " (8 MiB); refusing to "
                                    + "rewrite it")));
                }
            } catch (NoSuchFileException e) {
                return new byte[0];
            }
            return readTarget(directory, name).map(HeldDirectory.RegularFile::content).orElse(new byte[0]);
        }
    }

    /** The file {@code name} of {@code directory} with its owner and mode, if it exists (the writer's read). */
    static Optional<HeldDirectory.RegularFile> readTarget(HeldDirectory directory, String name) throws IOException {
        try {
            return Optional.of(directory.readRegularFile(name, MAX_HOSTS_FILE_BYTES));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }
}
