package io.istiovm.agent.logging;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.slf4j.event.Level;

/**
 * The least level logged, by logger name: a default and overrides for logger name prefixes (the longest matching
 * prefix wins, at a '.' boundary), written {@code info} or {@code warn,envoy=debug,io.grpc=off} as
 * {@code VM_AGENT_LOG_LEVEL} takes it. Immutable.
 */
public final class LogLevels {
    /** A threshold above every level: nothing is logged. */
    static final int OFF = Integer.MAX_VALUE;

    /**
     * Loggers that are off at every level, whatever the configuration says, captures included: gRPC's HTTP/2
     * frame loggers (grpc-netty 1.85 creates Netty's Http2FrameLogger under these names and logs every frame at
     * DEBUG), which print request headers, the CA's bearer token among them, and the bytes of CSRs and chains.
     * LogSecretsTest found them.
     */
    private static final java.util.Set<String> SILENCED = java.util.Set.of("io.grpc.netty.NettyClientHandler",
            "io.grpc.netty.NettyServerHandler");

    private final int defaultThreshold;
    private final Map<String, Integer> overrides;

    private LogLevels(int defaultThreshold, Map<String, Integer> overrides) {
        this.defaultThreshold = defaultThreshold;
        this.overrides = Map.copyOf(overrides);
    }

    public static LogLevels of(Level level) {
        return new LogLevels(level.toInt(), Map.of());
    }

    /**
     * Parses {@code LEVEL[,LOGGER=LEVEL]...}; levels are trace, debug, info, warn (or warning), error and off.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static LogLevels parse(String spec) {
        Objects.requireNonNull(spec, "spec");
        int defaultThreshold = Level.INFO.toInt();
        Map<String, Integer> overrides = new LinkedHashMap<>();
        boolean first = true;
        for (String part : spec.split(",", -1)) {
            String item = part.strip();
            int eq = item.indexOf('=');
            if (first && eq < 0) {
                defaultThreshold = parseLevel(item);
            } else if (eq > 0) {
                overrides.put(item.substring(0, eq).strip(), parseLevel(item.substring(eq + 1)));
            } else {
                throw new IllegalArgumentException("a log level is LEVEL[,LOGGER=LEVEL]..., not: " + spec);
            }
            first = false;
        }
        return new LogLevels(defaultThreshold, overrides);
    }

    private static int parseLevel(String name) {
        return switch (name.strip().toLowerCase(Locale.ROOT)) {
            case "trace" -> Level.TRACE.toInt();
            case "debug" -> Level.DEBUG.toInt();
            case "info" -> Level.INFO.toInt();
            case "warn", "warning" -> Level.WARN.toInt();
            case "error" -> Level.ERROR.toInt();
            case "off" -> OFF;
            default -> throw new IllegalArgumentException("not a log level (trace, debug, info, warn, error, off): "
                    + name);
        };
    }

    /** Whether {@code logger} is one that may never log: see {@link #SILENCED}. */
    static boolean silenced(String logger) {
        return SILENCED.contains(logger);
    }

    /** The least {@link Level#toInt()} that {@code logger} logs; {@link #OFF} for none. */
    int threshold(String logger) {
        if (silenced(logger)) {
            return OFF;
        }
        // A loop, not a stream: this runs once per logger, and streams cost the backend's start ~20 classes.
        int best = -1;
        int threshold = defaultThreshold;
        for (Map.Entry<String, Integer> e : overrides.entrySet()) {
            String prefix = e.getKey();
            if (prefix.length() > best && (logger.equals(prefix) || logger.startsWith(prefix + "."))) {
                best = prefix.length();
                threshold = e.getValue();
            }
        }
        return threshold;
    }

    /** The least threshold of any logger: what a source that filters once for all loggers (JUL) must let through. */
    int lowest() {
        int lowest = defaultThreshold;
        for (int threshold : overrides.values()) {
            lowest = Math.min(lowest, threshold);
        }
        return lowest;
    }

    public boolean enabled(String logger, Level level) {
        return level.toInt() >= threshold(logger);
    }
}
