package io.istiovm.agent.logging;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** Writes {@link PlainLines} to a stream (stderr in the daemon), one write per entry so lines never interleave. */
public final class StderrSink implements LogSink {
    private final OutputStream out;

    public StderrSink(OutputStream out) {
        this.out = Objects.requireNonNull(out, "out");
    }

    @Override
    public void write(LogEntry entry) {
        byte[] bytes = PlainLines.format(entry).getBytes(StandardCharsets.UTF_8);
        synchronized (this) {
            try {
                out.write(bytes);
                out.flush();
            } catch (IOException e) {
                // Nowhere left to say it: stderr itself failed.
            }
        }
    }
}
