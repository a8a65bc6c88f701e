package io.istiovm.agent.it.logging;

import io.istiovm.agent.logging.AgentLoggingProvider;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Measures the slf4j 2 backends the agent could use, each in fresh JVMs (printed, never asserted; figures in
 * README, "Logs"): slf4j-simple, logback-classic and the agent's own ({@link AgentLoggingProvider}), with
 * {@link LoggingProbe}, and the agent's journal path with {@link JournalProbe}. Medians of the runs.
 *
 * <p>The other backends' jars come from the local Maven repository beside slf4j-api's; fetch logback first:
 * {@code mvn dependency:get -Dartifact=ch.qos.logback:logback-classic:1.5.38}. Run:
 * {@code java -cp <integration-tests test class path> io.istiovm.agent.it.logging.LoggingBackendBenchmark [runs]
 * [calls]}.
 */
public final class LoggingBackendBenchmark {
    private static final String LOGBACK = "1.5.38";

    private LoggingBackendBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
        Path api = jar(org.slf4j.Logger.class);
        String slf4j = api.getParent().getFileName().toString();
        Path repo = api.getParent().getParent().getParent().getParent().getParent();
        Path probe = jar(LoggingProbe.class);
        // Each backend configured alike: level info, to stderr, a timestamp, level, thread, logger, message, pairs.
        Path logback = Files.createTempDirectory("logback");
        Files.writeString(logback.resolve("logback.xml"), """
                <configuration>
                  <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender">
                    <target>System.err</target>
                    <encoder><pattern>%d{yyyy-MM-dd'T'HH:mm:ss.SSSX,UTC} %-5level [%thread] %logger - %msg %kvp%n</pattern></encoder>
                  </appender>
                  <root level="INFO"><appender-ref ref="ERR"/></root>
                </configuration>
                """);
        Map<String, List<String>> options = Map.of(
                "slf4j-simple " + slf4j, List.of("-Dorg.slf4j.simpleLogger.showDateTime=true",
                        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX"));
        Map<String, List<Path>> backends = new LinkedHashMap<>();
        backends.put("slf4j-simple " + slf4j, List.of(repo.resolve("org/slf4j/slf4j-simple/" + slf4j
                + "/slf4j-simple-" + slf4j + ".jar")));
        backends.put("logback-classic " + LOGBACK, List.of(
                repo.resolve("ch/qos/logback/logback-classic/" + LOGBACK + "/logback-classic-" + LOGBACK + ".jar"),
                repo.resolve("ch/qos/logback/logback-core/" + LOGBACK + "/logback-core-" + LOGBACK + ".jar"),
                logback));
        backends.put("agent's own", List.of(jar(AgentLoggingProvider.class), jar(com.sun.jna.Native.class)));
        for (Map.Entry<String, List<Path>> backend : backends.entrySet()) {
            List<Path> cp = new ArrayList<>(List.of(probe, api));
            cp.addAll(backend.getValue());
            System.out.println(backend.getKey() + ": " + medians(runs, cp,
                    options.getOrDefault(backend.getKey(), List.of()), LoggingProbe.class, calls));
        }
        List<Path> own = new ArrayList<>(List.of(probe, api));
        own.addAll(backends.get("agent's own"));
        System.out.println("agent's own, journal socket: " + medians(runs, own, List.of(), JournalProbe.class,
                calls / 10));
        Files.delete(logback.resolve("logback.xml"));
        Files.delete(logback);
    }

    private static Path jar(Class<?> type) throws Exception {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    private static Map<String, Double> medians(int runs, List<Path> classPath, List<String> options, Class<?> main,
                                               int calls) throws Exception {
        for (Path p : classPath) {
            if (!Files.exists(p)) {
                throw new IllegalStateException("missing " + p + " (see this class's comment)");
            }
        }
        Map<String, List<Double>> values = new TreeMap<>();
        for (int run = 0; run < runs; run++) {
            Path out = Files.createTempFile("probe", ".txt");
            try {
                List<String> command = new ArrayList<>(List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-XX:+UseSerialGC", "-Xshare:auto", "-Xmx64m"));
                command.addAll(options);
                command.addAll(List.of("-cp",
                        String.join(File.pathSeparator, classPath.stream().map(Path::toString).toList()),
                        main.getName(), out.toString(), String.valueOf(calls)));
                ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD);
                // Plain lines on stderr (/dev/null) for every backend, also when run from a systemd unit.
                builder.environment().keySet().removeAll(List.of("JOURNAL_STREAM", "INVOCATION_ID",
                        "VM_AGENT_LOG_TARGET", "VM_AGENT_LOG_LEVEL"));
                Process process = builder.start();
                if (process.waitFor() != 0) {
                    throw new IllegalStateException(main.getSimpleName() + " failed: " + command);
                }
                for (String line : Files.readAllLines(out)) {
                    String[] kv = line.split(" ");
                    values.computeIfAbsent(kv[0], k -> new ArrayList<>()).add(Double.parseDouble(kv[1]));
                }
            } finally {
                Files.deleteIfExists(out);
            }
        }
        Map<String, Double> medians = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            double[] sorted = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            medians.put(k, sorted[sorted.length / 2]);
        });
        return medians;
    }
}
