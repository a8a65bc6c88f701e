package io.istiovm.agent.envoy;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import org.slf4j.event.Level;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * One running Envoy epoch: the process, when it started, and one thread that carries its output (stdout and stderr
 * on one pipe) into the agent's log (logger {@code envoy}) at the level Envoy gave each line (WARN when it gave
 * none), with ENVOY_EPOCH and ENVOY_PID keys. Lines are cut at {@link BoundedLines#LINE_LIMIT} bytes and marked.
 */
final class EnvoyProcess {
    private static final Logger ENVOY_LOG = LoggerFactory.getLogger("envoy");
    private static final Pattern LEVEL = Pattern.compile("\\[(trace|debug|info|warning|error|critical)\\]");

    private final int epoch;
    private final Process process;
    private final Instant started;
    private final BoundedLines output = new BoundedLines(BoundedLines.LINE_LIMIT);

    private EnvoyProcess(int epoch, Process process, Instant started) {
        this.epoch = epoch;
        this.process = process;
        this.started = started;
    }

    static EnvoyProcess start(int epoch, List<String> command, Instant now) throws IOException {
        // One pipe and one thread for both streams: Envoy logs to stderr and leaves stdout empty, so a second pipe
        // would cost a thread per epoch for nothing. Which stream a line came from is thus unknown: see level.
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true);
        // systemd's notify socket and watchdog are the agent's alone (NotifyAccess=main refuses Envoy's datagrams
        // anyway): Envoy, run as another user, is not handed the address or told it is watched.
        builder.environment().keySet().removeAll(List.of("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"));
        Process process = builder.start();
        EnvoyProcess envoy = new EnvoyProcess(epoch, process, now);
        envoy.pump(process.getInputStream());
        return envoy;
    }

    int epoch() {
        return epoch;
    }

    long pid() {
        return process.pid();
    }

    Instant started() {
        return started;
    }

    /** Lines of this epoch's output cut at the limit so far, and the longest line logged (characters). */
    long outputLinesCut() {
        return output.cutLines();
    }

    int longestOutputLine() {
        return output.longestLine();
    }

    boolean alive() {
        return process.isAlive();
    }

    CompletableFuture<Process> onExit() {
        return process.onExit();
    }

    int exitValue() {
        return process.exitValue();
    }

    void terminate() {
        process.destroy();
    }

    void kill() {
        process.destroyForcibly();
    }

    /**
     * The level Envoy gave {@code line}; a line without one is WARN: Envoy's own log lines all carry a level, so
     * one without is something else speaking on its stderr (a crash's backtrace, the loader, setpriv).
     */
    static Level level(String line) {
        Matcher m = LEVEL.matcher(line);
        if (!m.find()) {
            return Level.WARN;
        }
        return switch (m.group(1)) {
            case "trace" -> Level.TRACE;
            case "debug" -> Level.DEBUG;
            case "info" -> Level.INFO;
            case "warning" -> Level.WARN;
            default -> Level.ERROR;
        };
    }

    /** Whether Envoy gave {@code line} its highest level, critical (Envoy 1.3x: trace ... error, critical, off). */
    static boolean critical(String line) {
        Matcher m = LEVEL.matcher(line);
        return m.find() && m.group(1).equals("critical");
    }

    private void pump(InputStream stream) {
        long pid = process.pid();
        Thread thread = new Thread(() -> {
            MDC.put("COMPONENT", "envoy");
            try (InputStream in = stream) {
                output.read(in, line -> {
                    LoggingEventBuilder event = ENVOY_LOG.atLevel(level(line)).addKeyValue("ENVOY_EPOCH", epoch)
                            .addKeyValue("ENVOY_PID", pid);
                    if (critical(line)) {
                        // slf4j has no level above ERROR; the journal's PRIORITY says Envoy's critical (2) itself.
                        event = event.addKeyValue("PRIORITY", 2);
                    }
                    event.log(line);
                });
            } catch (IOException e) {
                // The pipe closes when Envoy exits.
            }
        }, "envoy-" + epoch + "-log");
        thread.setDaemon(true);
        thread.start();
    }
}
