package io.istiovm.agent.systemd;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Liveness;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Loops;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells systemd the agent's state (Type=notify), all from the one {@link AgentState}:
 * <ul>
 *   <li>{@code READY=1} once, the first time the snapshot is ready (identity valid, hosts and capture verified,
 *       Envoy LIVE), and again after every reload, accepted or refused, to end systemd's "reloading";</li>
 *   <li>{@code STATUS=} on every change of the {@link StatusLine} (not of the snapshot: a moving timestamp is not
 *       news);</li>
 *   <li>{@code WATCHDOG=1} every half of the watchdog timeout, only while {@link Liveness} says every loop makes
 *       progress;</li>
 *   <li>{@code RELOADING=1} with {@code MONOTONIC_USEC=} before a reload, {@code STOPPING=1} before the stop;</li>
 *   <li>{@code EXTEND_TIMEOUT_USEC=} on each tick while the start (until the first READY) or the stop runs, the
 *       loops make progress, and the bound for that phase ({@link NotifySettings}) is not reached: a slow CA
 *       enrolment or Envoy drain is given its time, a stuck one is not given forever.</li>
 * </ul>
 * The ticks run as a loop named {@code systemd} on the agent's {@link Loops}, so tests step them with a clock.
 */
public final class SystemdNotify implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SystemdNotify.class);
    /** One tick's extension covers this many ticks, so that one late tick does not let the timeout strike. */
    private static final int EXTEND_TICKS = 3;

    private final Notifier notifier;
    private final Optional<Duration> watchdog;
    private final NotifySettings settings;
    private final Clock clock;
    private final LongSupplier monotonicMicros;
    private final Instant began;
    private final Duration interval;
    private volatile AgentState state;
    private Runnable unlisten = () -> { };
    private Loop loop;
    private String lastStatus;
    private boolean started;
    private boolean reloading;
    private Instant stoppingSince;
    private boolean pinging = true;
    private boolean closed;

    /**
     * @param watchdog the timeout systemd enforces ({@link WatchdogEnvironment}), if any
     * @param monotonicMicros CLOCK_MONOTONIC in microseconds, for MONOTONIC_USEC=
     */
    public SystemdNotify(Notifier notifier, Optional<Duration> watchdog, NotifySettings settings, Clock clock,
                         LongSupplier monotonicMicros) {
        this.notifier = Objects.requireNonNull(notifier, "notifier");
        this.watchdog = Objects.requireNonNull(watchdog, "watchdog");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.monotonicMicros = Objects.requireNonNull(monotonicMicros, "monotonicMicros");
        this.began = clock.instant();
        this.interval = watchdog.map(w -> w.dividedBy(2)).filter(d -> !d.isZero()).orElse(settings.tick());
    }

    /**
     * CLOCK_MONOTONIC in microseconds: on Linux HotSpot's System.nanoTime() is clock_gettime(CLOCK_MONOTONIC)
     * without an offset, the clock systemd compares MONOTONIC_USEC= against.
     */
    public static long monotonicNow() {
        return System.nanoTime() / 1000;
    }

    /** Real systemd, from the process environment; does nothing at all without {@code $NOTIFY_SOCKET}. */
    public static SystemdNotify fromEnvironment(Map<String, String> environment, NotifySettings settings, Clock clock)
            throws java.io.IOException {
        Notifier notifier = Notifier.fromEnvironment(environment);
        Optional<Duration> watchdog = notifier.enabled()
                ? WatchdogEnvironment.timeout(environment, ProcessHandle.current().pid()) : Optional.empty();
        return new SystemdNotify(notifier, watchdog, settings, clock, SystemdNotify::monotonicNow);
    }

    public boolean enabled() {
        return notifier.enabled();
    }

    /** How often the loop ticks: half the watchdog timeout, or the settings' tick without one. */
    public Duration interval() {
        return interval;
    }

    /** Follows {@code agentState} from now on; with a notify socket, starts the ticking loop on {@code loops}. */
    public void attach(AgentState agentState, Loops loops) {
        synchronized (this) {
            if (state != null) {
                throw new IllegalStateException("already attached");
            }
            state = Objects.requireNonNull(agentState, "agentState");
        }
        if (!notifier.enabled()) {
            return;
        }
        unlisten = agentState.addListener(this::changed);
        synchronized (this) {
            loop = loops.start("systemd", this::tick, () -> { });
        }
    }

    private void changed(AgentState.Snapshot snapshot) {
        String status = StatusLine.of(snapshot);
        Map<String, String> fields = new LinkedHashMap<>();
        synchronized (this) {
            if (closed) {
                return;
            }
            if (!started && !reloading && snapshot.ready()) {
                started = true;
                fields.put("READY", "1");
                LOG.info("systemd: ready");
            }
            if (!status.equals(lastStatus) || !fields.isEmpty()) {
                lastStatus = status;
                fields.put("STATUS", status);
            }
            send(fields);
        }
    }

    /**
     * Sends under this object's lock, so that systemd receives the messages in the order their content was
     * decided (a STATUS computed earlier never overwrites a later one). A send is one non-reentrant system call.
     */
    private void send(Map<String, String> fields) {
        if (!fields.isEmpty()) {
            notifier.send(fields);
        }
    }

    /** One tick: the watchdog ping and the timeout extension, as due. */
    Instant tick(Instant now) {
        AgentState.Snapshot snapshot = state.snapshot();
        Liveness.Verdict verdict = Liveness.of(snapshot, now, settings::staleAfter);
        Map<String, String> fields = new LinkedHashMap<>();
        synchronized (this) {
            if (watchdog.isPresent()) {
                if (verdict.alive()) {
                    fields.put("WATCHDOG", "1");
                    if (!pinging) {
                        LOG.info("systemd watchdog: pings resumed ({})", verdict.why());
                    }
                } else if (pinging) {
                    LOG.error("systemd watchdog: pings stopped, systemd will restart the agent: {}", verdict.why());
                }
                pinging = verdict.alive();
            }
            extension(now, verdict).ifPresent(d -> fields.put("EXTEND_TIMEOUT_USEC",
                    Long.toString(d.toNanos() / 1000)));
            send(fields);
        }
        return now.plus(interval);
    }

    /** The extension to ask for now, if any: in the start or stop phase, within its bound, with progress. */
    private Optional<Duration> extension(Instant now, Liveness.Verdict verdict) {
        Instant end;
        if (stoppingSince != null) {
            end = stoppingSince.plus(settings.stopBound());
        } else if (!started && !reloading) {
            end = began.plus(settings.startBound());
        } else {
            return Optional.empty();
        }
        Duration left = Duration.between(now, end);
        if (!verdict.alive() || left.isNegative() || left.isZero()) {
            return Optional.empty();
        }
        Duration wanted = interval.multipliedBy(EXTEND_TICKS);
        return Optional.of(wanted.compareTo(left) < 0 ? wanted : left);
    }

    /** Before a reload (SIGHUP): RELOADING=1 with the monotonic time, as Type=notify-reload requires (253+). */
    public void reloading() {
        synchronized (this) {
            if (closed) {
                return;
            }
            reloading = true;
            lastStatus = "reloading";
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("RELOADING", "1");
            fields.put("MONOTONIC_USEC", Long.toString(monotonicMicros.getAsLong()));
            fields.put("STATUS", "reloading");
            send(fields);
        }
    }

    /** After a reload, accepted or refused: READY=1 and the status now (a refusal shows in it). */
    public void reloaded() {
        AgentState following = state;
        synchronized (this) {
            if (closed) {
                return;
            }
            String status = following == null ? "reloaded" : StatusLine.of(following.snapshot());
            reloading = false;
            started = true;
            lastStatus = status;
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("READY", "1");
            fields.put("STATUS", status);
            send(fields);
        }
    }

    /** Before the stop (SIGTERM): STOPPING=1; from here the ticks extend the stop timeout for the drain. */
    public void stopping() {
        synchronized (this) {
            if (closed || stoppingSince != null) {
                return;
            }
            stoppingSince = clock.instant();
            lastStatus = "stopping";
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("STOPPING", "1");
            fields.put("STATUS", "stopping");
            send(fields);
        }
    }

    /** Stops the ticks and the listener; sends nothing more. */
    @Override
    public void close() {
        Loop ticking;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            ticking = loop;
            loop = null;
        }
        unlisten.run();
        if (ticking != null) {
            ticking.close();
        }
        notifier.close();
    }
}
