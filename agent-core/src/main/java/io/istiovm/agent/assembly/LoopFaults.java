package io.istiovm.agent.assembly;

import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Loops;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TEST FAULT, for the systemd watchdog's end-to-end test: hangs one named component loop for ever, as a step that
 * never returns would, once a trigger file exists. Off unless the JVM is started with
 * {@code -Distio-vm-agent.test.hang-loop=NAME:/ABSOLUTE/TRIGGER} (e.g. {@code envoy:/run/x-hang}); a system
 * property on the java command line, which only root (the unit, a drop-in) sets, never a key of cluster.env or
 * sidecar.env, which Envoy's user may write. Once the trigger exists, the loop's thread blocks at its next check-in
 * (within 5 s, ThreadLoops.CHECK_IN) and never reports progress again; the watchdog pings stop.
 */
public final class LoopFaults implements Loops {
    private static final Logger LOG = LoggerFactory.getLogger(LoopFaults.class);
    public static final String PROPERTY = "istio-vm-agent.test.hang-loop";

    private final Loops delegate;
    private final String loop;
    private final Path trigger;

    LoopFaults(Loops delegate, String loop, Path trigger) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.loop = Objects.requireNonNull(loop, "loop");
        this.trigger = Objects.requireNonNull(trigger, "trigger");
        if (!trigger.isAbsolute()) {
            throw new IllegalArgumentException(PROPERTY + ": the trigger is an absolute path: " + trigger);
        }
    }

    /** {@code loops}, with the fault of {@code value} (the property's value) when it is set. */
    static Loops wrap(Loops loops, Optional<String> value) {
        if (value.isEmpty() || value.get().isBlank()) {
            return loops;
        }
        int colon = value.get().indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException(PROPERTY + " is NAME:/TRIGGER, not " + value.get());
        }
        LoopFaults faults = new LoopFaults(loops, value.get().substring(0, colon),
                Path.of(value.get().substring(colon + 1)));
        LOG.warn("TEST FAULT armed: loop {} hangs once {} exists", faults.loop, faults.trigger);
        return faults;
    }

    /** From the JVM's system property {@link #PROPERTY}, read once. */
    static Loops fromSystemProperties(Loops loops) {
        return wrap(loops, Optional.ofNullable(System.getProperty(PROPERTY)));
    }

    @Override
    public Clock clock() {
        return delegate.clock();
    }

    @Override
    public Loop start(String name, Step step, Runnable onProgress) {
        if (!name.equals(loop)) {
            return delegate.start(name, step, onProgress);
        }
        return delegate.start(name, step, () -> {
            if (Files.exists(trigger, LinkOption.NOFOLLOW_LINKS)) {
                hang(name);
            }
            onProgress.run();
        });
    }

    /** Blocks this thread for ever, interrupts included: a step that never returns. */
    private void hang(String name) {
        LOG.warn("TEST FAULT: loop {} hangs now ({} exists)", name, trigger);
        CountDownLatch never = new CountDownLatch(1);
        while (true) {
            try {
                never.await();
            } catch (InterruptedException e) {
                // A hung step does not answer interrupts either.
            }
        }
    }
}
