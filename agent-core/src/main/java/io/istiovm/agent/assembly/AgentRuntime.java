package io.istiovm.agent.assembly;

import io.istiovm.agent.config.HostFacts;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Loops;
import io.istiovm.agent.lifecycle.ThreadLoops;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.time.Clock;
import java.util.Objects;

/**
 * What the whole process shares and makes once: the one clock, the loops every component runs on, the one file
 * watch, the host's files and facts. Made by {@link #system} for the daemon and the CLI, by tests with stepped
 * loops and scratch paths.
 */
public record AgentRuntime(Clock clock, Loops loops, FileEvents fileEvents, HostPaths paths, HostFacts facts)
        implements AutoCloseable {

    public AgentRuntime {
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(loops, "loops");
        Objects.requireNonNull(fileEvents, "fileEvents");
        Objects.requireNonNull(paths, "paths");
        Objects.requireNonNull(facts, "facts");
        if (!loops.clock().equals(clock)) {
            throw new IllegalArgumentException("the loops must run on the runtime's clock");
        }
    }

    /**
     * The real host: the system clock, a thread per loop, inotify, /etc and /proc; and the test fault of
     * {@link LoopFaults} when the JVM was started with it.
     */
    public static AgentRuntime system(HostFacts facts) {
        Clock clock = Clock.systemUTC();
        return new AgentRuntime(clock, LoopFaults.fromSystemProperties(new ThreadLoops(clock)), new FileEvents(FileSystems.getDefault()),
                HostPaths.system(), facts);
    }

    @Override
    public void close() throws IOException {
        fileEvents.close();
    }
}
