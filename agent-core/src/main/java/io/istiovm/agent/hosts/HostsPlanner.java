package io.istiovm.agent.hosts;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.ConfigProblem;
import io.istiovm.agent.config.Source;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Computes {@link HostsPlan}s: reads sources and the hosts file, writes nothing. */
public final class HostsPlanner {
    /** Far above any real hosts file (ad-blocking lists run to a few MB); guards memory, not taste. */
    static final int MAX_HOSTS_FILE_BYTES = 64 * 1024 * 1024;

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

    /** The file's bytes for comparison only, without the size limit's {@link ConfigException}. */
    static byte[] readTargetUnchecked(Path target) throws IOException {
        return Files.readAllBytes(target);
    }

    /** The file's bytes; a missing file reads as empty (writing creates it). */
    static byte[] readTarget(Path target) throws IOException, ConfigException {
        try (InputStream in = Files.newInputStream(target)) {
            byte[] bytes = in.readNBytes(MAX_HOSTS_FILE_BYTES + 1);
            if (bytes.length > MAX_HOSTS_FILE_BYTES) {
                throw new ConfigException(List.of(ConfigProblem.error(new Source.FileLine(target, 0), null, null,
                        "is larger than " + MAX_HOSTS_FILE_BYTES + " bytes (64 MiB); refusing to rewrite it")));
            }
            return bytes;
        } catch (NoSuchFileException e) {
            return new byte[0];
        }
    }
}
