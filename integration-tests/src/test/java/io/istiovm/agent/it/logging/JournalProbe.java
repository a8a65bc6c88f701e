package io.istiovm.agent.it.logging;

import io.istiovm.agent.logging.AgentLogging;
import io.istiovm.agent.logging.JournalSink;
import io.istiovm.agent.logging.LogEntry;
import io.istiovm.agent.logging.LogLevels;
import io.istiovm.agent.logging.LogSink;
import io.istiovm.agent.logging.StderrSink;
import io.istiovm.agent.unix.UnixAddress;
import io.istiovm.agent.unix.UnixDatagramSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * The agent's backend writing to a journal socket this JVM binds and drains: the cost of a log call in the native
 * protocol, with CODE_FILE/CODE_LINE/CODE_FUNC (a stack walk per line) and without. Writes {@code key value} lines to
 * the file in args[0].
 */
public final class JournalProbe {
    private JournalProbe() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        int calls = Integer.parseInt(args[1]);
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "x-jp");
        UnixAddress address = UnixAddress.path(dir.resolve("s").toString());
        try (UnixDatagramSocket journald = UnixDatagramSocket.bind(address);
             UnixDatagramSocket sender = UnixDatagramSocket.open()) {
            Thread drain = new Thread(() -> {
                try {
                    while (journald.receive(Duration.ofSeconds(2), 8192).isPresent()) {
                        // Consume, as journald would.
                    }
                } catch (Exception e) {
                    // The socket closed: the run is over.
                }
            });
            drain.setDaemon(true);
            drain.start();
            Logger log = LoggerFactory.getLogger("io.istiovm.agent.ca.IdentityComponent");
            JournalSink journal = new JournalSink(sender, address, new StderrSink(System.err));
            AgentLogging.configure(LogLevels.of(Level.INFO), journal);
            double withSite = LoggingProbe.perCall(calls, i -> log.atInfo().addKeyValue("CERT_SERIAL", i)
                    .addKeyValue("SPIFFE_ID", "spiffe://x").log("identity rotated"));
            AgentLogging.configure(LogLevels.of(Level.INFO), new LogSink() {
                @Override
                public void write(LogEntry entry) {
                    journal.write(entry);
                }
            });
            double withoutSite = LoggingProbe.perCall(calls, i -> log.atInfo().addKeyValue("CERT_SERIAL", i)
                    .addKeyValue("SPIFFE_ID", "spiffe://x").log("identity rotated"));
            Files.writeString(out, String.format(Locale.ROOT, "journal_kv_ns %.0f%njournal_kv_no_code_ns %.0f%n",
                    withSite, withoutSite));
        } finally {
            Files.deleteIfExists(dir.resolve("s"));
            Files.deleteIfExists(dir);
        }
    }
}
