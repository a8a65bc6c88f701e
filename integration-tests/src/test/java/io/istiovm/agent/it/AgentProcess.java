package io.istiovm.agent.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged agent ({@code agent.jar} system property) as a child process, started as the .deb's unit would
 * start it, with a clean environment. {@link #run} waits for a command to finish and returns its output;
 * {@link #start} leaves a long-running agent to the test, whose {@link #kill()} is SIGKILL (no shutdown hooks run)
 * and whose {@link #close()} makes sure nothing outlives the test.
 */
public final class AgentProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private AgentProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** A finished command. */
    public record Result(int exitCode, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    public static Path jar() {
        String jar = System.getProperty("agent.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("system property agent.jar does not name the packaged jar: " + jar);
        }
        return Path.of(jar);
    }

    public static Path repositoryRoot() {
        return Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    }

    /** The command line that runs the packaged agent with {@code args}. */
    public static List<String> command(String... args) {
        return command(List.of(), args);
    }

    /** As {@link #command(String...)} with extra JVM flags (e.g. a class-data-sharing archive). */
    public static List<String> command(List<String> jvmFlags, String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        command.addAll(jvmFlags);
        command.addAll(List.of("-jar", jar().toString()));
        command.addAll(List.of(args));
        return command;
    }

    /**
     * As {@link #start(Path, Map, String...)}, but through the .deb's launcher ({@code deb/launcher} of this checkout)
     * as the unit starts the agent: its JVM flags and its class-data archive (trained by the first {@code run},
     * mapped from then on), kept in {@code stateDir} (a directory of ours, mode 0700). The launcher execs the JVM,
     * so {@link #pid()} is the agent's.
     */
    public static AgentProcess startThroughLauncher(Path stateDir, Path log, Map<String, String> environment,
                                                    String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("sh", repositoryRoot().resolve("deb/launcher").toString()));
        command.addAll(List.of(args));
        Map<String, String> env = new java.util.HashMap<>(launcherEnvironment(stateDir));
        env.putAll(environment);
        Process process = builder(command, env).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        return new AgentProcess(process, log);
    }

    /** What points the launcher at this build's jar and JVM and at {@code stateDir} for its archive. */
    public static Map<String, String> launcherEnvironment(Path stateDir) {
        return Map.of("ISTIO_VM_AGENT_JAR", jar().toString(),
                "ISTIO_VM_AGENT_JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "ISTIO_VM_AGENT_STATE_DIR", stateDir.toString());
    }

    /** The JVM's own command-line words of a running agent (/proc/PID/cmdline, between java and -jar). */
    public List<String> jvmFlags() throws IOException {
        String[] words = new String(Files.readAllBytes(Path.of("/proc", Long.toString(process.pid()), "cmdline")),
                StandardCharsets.UTF_8).split("\0");
        List<String> flags = new ArrayList<>();
        for (int i = 1; i < words.length && !words[i].equals("-jar"); i++) {
            flags.add(words[i]);
        }
        return flags;
    }

    private static ProcessBuilder builder(List<String> command, Map<String, String> environment) {
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        builder.environment().clear();
        builder.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        builder.environment().putAll(environment);
        return builder;
    }

    /** Runs a command to completion (at most a minute) with a clean environment plus {@code environment}. */
    public static Result run(Map<String, String> environment, String... args) throws IOException, InterruptedException {
        List<String> command = command(args);
        Path out = Files.createTempFile("agent-out", ".txt");
        Path err = Files.createTempFile("agent-err", ".txt");
        try {
            Process process = builder(command, environment)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("agent did not finish within 60 s: " + command);
            }
            return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Starts {@code istio-vm-agent args...} in the background; output goes to {@code log}. */
    public static AgentProcess start(Path log, Map<String, String> environment, String... args) throws IOException {
        return start(List.of(), log, environment, args);
    }

    /** As {@link #start(Path, Map, String...)} with extra JVM flags. */
    public static AgentProcess start(List<String> jvmFlags, Path log, Map<String, String> environment,
                                     String... args) throws IOException {
        Process process = builder(command(jvmFlags, args), environment).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        return new AgentProcess(process, log);
    }

    /** As {@link #start(Path, Map, String...)}, inside network namespace {@code netns} ({@code ip netns exec}). */
    public static AgentProcess startInNetworkNamespace(String netns, Path log, Map<String, String> environment,
                                                       String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        command.addAll(command(args));
        Process process = builder(command, environment).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        return new AgentProcess(process, log);
    }

    /** Sends SIGHUP: the agent re-reads its configuration. */
    public void reload() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -HUP " + process.pid() + " failed");
        }
    }

    /** Sends SIGTERM, as systemctl stop does; {@link #waitFor} then gives the exit code. */
    public void terminate() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -TERM " + process.pid() + " failed");
        }
    }

    /** The names of the agent's threads now (/proc/PID/task/N/comm, as top -H shows them), sorted. */
    public List<String> threads() throws IOException {
        List<String> names = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc", Long.toString(process.pid()), "task"))) {
            for (Path task : tasks.toList()) {
                try {
                    names.add(Files.readString(task.resolve("comm")).strip());
                } catch (java.nio.file.NoSuchFileException e) {
                    // the thread ended while we looked
                }
            }
        }
        names.sort(null);
        return names;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL, then waits until the process is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    /** Waits for the exit code; fails the test when the process is still running after {@code deadline}. */
    public int waitFor(Duration deadline) throws InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the agent did not exit within " + deadline + "; log: " + logText());
        }
        return process.exitValue();
    }

    public String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** SIGTERM, then SIGKILL if it has not exited within ten seconds. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    kill();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
