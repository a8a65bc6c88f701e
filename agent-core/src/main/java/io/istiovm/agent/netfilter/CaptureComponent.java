package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.daemon.Component;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's traffic capture: applies the plan at start, re-reads netfilter every
 * VM_AGENT_CAPTURE_VERIFY_INTERVAL and whenever nftables announces a change, repairs any drift (logging what
 * changed), and removes its rules at stop.
 */
public final class CaptureComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(CaptureComponent.class);

    /** What a verification found, for readiness and the logs. */
    public record Check(Instant at, Drift drift, boolean repaired) {
    }

    /** How long after a change event the check runs, so that a burst of changes costs one check. */
    private static final Duration EVENT_DEBOUNCE = Duration.ofMillis(200);

    /** A source of "netfilter changed" notifications; {@link #NONE} relies on the periodic check alone. */
    @FunctionalInterface
    public interface ChangeEvents {
        ChangeEvents NONE = onChange -> () -> { };

        AutoCloseable subscribe(Runnable onChange) throws Exception;
    }

    private final AgentConfig config;
    private final PlanSource planSource;
    private final NetfilterTools tools;
    private final ScheduledExecutorService scheduler;
    private final Clock clock;
    private final Duration interval;
    private final ChangeEvents changeEvents;
    private final AtomicBoolean checkPending = new AtomicBoolean();
    private final Object checkDone = new Object();
    private long checks;
    private AutoCloseable subscription;
    private NetfilterCapture netfilter;
    private CapturePlan plan;
    private ScheduledFuture<?> periodic;
    private volatile Check lastCheck;
    private volatile boolean healthy;
    private boolean stopped;

    /** Reads the host facts and builds the plan; separate so that tests can give fixed host facts. */
    @FunctionalInterface
    public interface PlanSource {
        CapturePlan plan() throws Exception;
    }

    public CaptureComponent(AgentConfig config, PlanSource planSource, NetfilterTools tools,
                            ScheduledExecutorService scheduler, Clock clock, ChangeEvents changeEvents) {
        this.config = Objects.requireNonNull(config);
        this.planSource = Objects.requireNonNull(planSource);
        this.tools = Objects.requireNonNull(tools);
        this.scheduler = Objects.requireNonNull(scheduler);
        this.clock = Objects.requireNonNull(clock);
        this.interval = config.get(ConfigKeys.VM_AGENT_CAPTURE_VERIFY_INTERVAL);
        this.changeEvents = Objects.requireNonNull(changeEvents);
    }

    @Override
    public String name() {
        return "capture";
    }

    /** Plans from the configuration and the host's facts (sshd's ports, users); refuses bad input here. */
    @Override
    public synchronized void prepare() throws Exception {
        plan = planSource.plan();
    }

    @Override
    public synchronized void start() throws Exception {
        if (plan == null) {
            prepare();
        }
        netfilter = NetfilterCapture.open(tools, config.get(ConfigKeys.VM_AGENT_IPTABLES_BACKEND));
        netfilter.apply(plan);
        healthy = true;
        lastCheck = new Check(clock.instant(), new Drift(List.of()), false);
        LOG.info("capture rules applied ({} backend); re-verified every {}", netfilter.backend().suffix(), interval);
        periodic = scheduler.scheduleWithFixedDelay(this::verifyQuietly, interval.toMillis(), interval.toMillis(),
                TimeUnit.MILLISECONDS);
        if (netfilter.backend() == Backend.NFT) {
            try {
                subscription = changeEvents.subscribe(this::changed);
            } catch (Exception e) {
                LOG.warn("no nftables change events ({}); relying on the check every {}", e.getMessage(), interval);
            }
        }
    }

    private void changed() {
        if (checkPending.compareAndSet(false, true)) {
            scheduler.schedule(() -> {
                checkPending.set(false);
                verifyQuietly();
            }, EVENT_DEBOUNCE.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Number of checks finished so far (scheduled, event-driven or direct). */
    public long checksDone() {
        synchronized (checkDone) {
            return checks;
        }
    }

    /** Waits until at least {@code count} checks have finished; false if {@code timeout} passes first. */
    public boolean awaitChecks(long count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (checkDone) {
            while (checks < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(checkDone, left);
            }
            return true;
        }
    }

    /**
     * Compares netfilter with the plan and re-applies it when they differ. Called by the schedule; public so the
     * drift tests can drive it without waiting for the interval.
     */
    public synchronized Check verifyAndRepair() throws CaptureException {
        if (netfilter == null) {
            throw new IllegalStateException("not started");
        }
        if (stopped) {
            // A check queued before stop() must not put back the rules stop() removed.
            return lastCheck;
        }
        Drift drift = netfilter.verify(plan);
        boolean repaired = false;
        if (!drift.isEmpty()) {
            LOG.warn("capture rules changed outside the agent; repairing:\n{}", drift.describe().stripTrailing());
            netfilter.apply(plan);
            repaired = true;
        }
        healthy = true;
        lastCheck = new Check(clock.instant(), drift, repaired);
        countCheck();
        return lastCheck;
    }

    private void countCheck() {
        synchronized (checkDone) {
            checks++;
            checkDone.notifyAll();
        }
    }

    private void verifyQuietly() {
        try {
            verifyAndRepair();
        } catch (CaptureException | RuntimeException e) {
            healthy = false;
            LOG.error("capture rules could not be verified or repaired: {}", e.getMessage());
            countCheck();
        }
    }

    public Check lastCheck() {
        return lastCheck;
    }

    @Override
    public boolean ready() {
        return healthy;
    }

    @Override
    public void describe(PrintWriter out) {
        try {
            out.print(planSource.plan().render());
        } catch (Exception e) {
            out.println("# capture plan unavailable: " + e.getMessage());
        }
    }

    @Override
    public synchronized void stop() throws CaptureException {
        stopped = true;
        if (periodic != null) {
            periodic.cancel(false);
        }
        if (subscription != null) {
            try {
                subscription.close();
            } catch (Exception e) {
                LOG.warn("closing nftables change events: {}", e.toString());
            }
        }
        healthy = false;
        NetfilterCapture target = netfilter != null ? netfilter
                : NetfilterCapture.open(tools, config.get(ConfigKeys.VM_AGENT_IPTABLES_BACKEND));
        target.clean(plan != null ? plan.tproxyRoute() : CapturePlans.configuredRoute(config));
        LOG.info("capture rules removed");
    }
}
