package io.istiovm.agent.logging;

import io.istiovm.agent.unix.UnixDatagramSocket;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.event.Level;

/**
 * The agent's logging backend's state: the levels and the sink every logger writes to, chosen once from the
 * environment when slf4j starts ({@link AgentLoggingProvider}), and the captures tests install.
 *
 * <p>Levels come from, first found: the system property {@code istiovm.log.level}, the environment's
 * {@code VM_AGENT_LOG_LEVEL} (a systemd drop-in's Environment=), the class path resource
 * {@code istio-vm-agent-logging.properties}'s {@code level} (the tests' quiet default), else info. The syntax is
 * {@link LogLevels#parse}'s. The sink is the journal or stderr, as {@link LogTarget} decides.
 */
public final class AgentLogging {
    static final String LEVEL_PROPERTY = "istiovm.log.level";
    static final String LEVEL_ENV = "VM_AGENT_LOG_LEVEL";
    static final String RESOURCE = "istio-vm-agent-logging.properties";
    /** {@link JournalSink#SOCKET}, as text: so that choosing stderr loads no socket class. */
    static final String JOURNAL_SOCKET = "/run/systemd/journal/socket";

    /** The levels and the sink in force. */
    record Setup(LogLevels levels, LogSink sink) {
        Setup {
            Objects.requireNonNull(levels, "levels");
            Objects.requireNonNull(sink, "sink");
        }
    }

    private static volatile Setup setup = new Setup(LogLevels.of(Level.INFO), new StderrSink(System.err));
    private static final List<LogSink> CAPTURES = new CopyOnWriteArrayList<>();
    private static volatile boolean capturing;
    private static final Clock CLOCK = Clock.systemUTC();

    private AgentLogging() {
    }

    static Setup setup() {
        return setup;
    }

    static boolean capturing() {
        return capturing;
    }

    static List<LogSink> captures() {
        return CAPTURES;
    }

    static Clock clock() {
        return CLOCK;
    }

    /** Replaces the levels and the sink (at start; and for the benchmark). */
    public static void configure(LogLevels levels, LogSink sink) {
        setup = new Setup(levels, sink);
    }

    /** The sink in force (the journal's or stderr's). */
    public static LogSink sink() {
        return setup.sink();
    }

    /**
     * Installs {@code sink} beside the configured one until the returned handle is closed: it gets every entry of
     * every logger at every level, whatever the levels say, so that a test can see all that the code would ever log.
     */
    public static AutoCloseable capture(LogSink sink) {
        Objects.requireNonNull(sink, "sink");
        CAPTURES.add(sink);
        capturing = true;
        return () -> {
            CAPTURES.remove(sink);
            capturing = !CAPTURES.isEmpty();
        };
    }

    /**
     * Carries java.util.logging (gRPC's) into this backend: the daemon calls it at start. Not done when slf4j starts,
     * because JUL's LogManager costs ~45 classes that a short CLI command never needs.
     */
    public static void bridgeJavaUtilLogging() {
        JulBridge.install(setup.levels());
    }

    /** Configures from this process's environment and system properties; what slf4j's start calls. */
    static void configureFromEnvironment() {
        Map<String, String> env = System.getenv();
        StderrSink stderr = new StderrSink(System.err);
        String problem = null;
        LogLevels levels;
        try {
            levels = LogLevels.parse(levelSpec(env));
        } catch (IllegalArgumentException e) {
            levels = LogLevels.of(Level.INFO);
            problem = e.getMessage();
        }
        LogSink sink = stderr;
        if (LogTarget.choose(env, env.containsKey("JOURNAL_STREAM") ? stderrDevIno() : Optional.empty(),
                Files.exists(Path.of(JOURNAL_SOCKET), LinkOption.NOFOLLOW_LINKS)) == LogTarget.JOURNAL) {
            try {
                sink = new JournalSink(UnixDatagramSocket.open(), JournalSink.SOCKET, stderr);
            } catch (IOException | LinkageError e) {
                problem = "the journal's socket cannot be opened, logging to stderr: " + e;
            }
        }
        configure(levels, sink);
        if (problem != null) {
            // Not through LoggerFactory: slf4j is still starting (this runs inside its initialization).
            new AgentLogger(AgentLogging.class.getName()).warn("logging: {}", problem);
        }
    }

    private static String levelSpec(Map<String, String> env) {
        String property = System.getProperty(LEVEL_PROPERTY);
        if (property != null) {
            return property;
        }
        String variable = env.get(LEVEL_ENV);
        if (variable != null && !variable.isBlank()) {
            return variable;
        }
        try (InputStream in = AgentLogging.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in != null) {
                Properties properties = new Properties();
                properties.load(in);
                return properties.getProperty("level", "info");
            }
        } catch (IOException e) {
            // A class path resource that cannot be read is as good as none.
        }
        return "info";
    }

    /** Device and inode of what fd 2 is, as stat(2) gives them: what $JOURNAL_STREAM names when it is the journal. */
    static Optional<long[]> stderrDevIno() {
        return devIno(Path.of("/proc/self/fd/2"));
    }

    /** Device and inode of the open file a /proc/self/fd link stands for. */
    static Optional<long[]> devIno(Path procFd) {
        try {
            // A /proc/self/fd entry is a magic link: stat follows it to the open file itself, socket or not.
            Map<String, Object> attrs = Files.readAttributes(procFd, "unix:dev,ino");
            return Optional.of(new long[] {(Long) attrs.get("dev"), (Long) attrs.get("ino")});
        } catch (IOException | UnsupportedOperationException e) {
            // fd 2 closed, or a file system without the unix view: whatever stderr is, it is not the journal's
            // stream, and the caller falls back to the journal socket's presence or to stderr lines.
            return Optional.empty();
        }
    }
}
