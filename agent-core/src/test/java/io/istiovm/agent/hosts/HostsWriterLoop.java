package io.istiovm.agent.hosts;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A writer process for crash tests: recovers what a previous (killed) writer left, prints {@code ready}, then
 * rewrites TARGET with the content of FILE_A and FILE_B in turn, forever, through {@link HostsFileWriter}, printing
 * {@code wrote N} after each write so that a test can aim its SIGKILL at any point of the cycle.
 * Usage: {@code HostsWriterLoop TARGET FILE_A FILE_B}, or {@code HostsWriterLoop --recover TARGET} to recover and exit.
 */
public final class HostsWriterLoop {
    private HostsWriterLoop() {
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("--recover")) {
            new HostsFileWriter().recover(Path.of(args[1]));
            return;
        }
        Path target = Path.of(args[0]);
        byte[][] contents = {Files.readAllBytes(Path.of(args[1])), Files.readAllBytes(Path.of(args[2]))};
        HostsFileWriter writer = new HostsFileWriter();
        writer.recover(target);
        System.out.println("ready");
        System.out.flush();
        for (long i = 0; ; i++) {
            writer.write(target, contents[(int) (i % 2)]);
            System.out.println("wrote " + i);
            System.out.flush();
        }
    }
}
