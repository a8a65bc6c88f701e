package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Debouncer;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Phase;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's traffic capture. Preparing plans from the settings and the host's facts (sshd's ports, the proxy
 * user, the agent's group) and refuses bad input. Started, it puts the rules in (fail-closed: at once; otherwise once
 * the Envoy component reports READY, which it does exactly when Envoy is LIVE), then re-reads netfilter every
 * verify interval and soon after nftables announces a change, repairing any drift. A reload replaces the rules in
 * one transaction per family when the plan changed; stopping removes them.
 */
public final class CaptureComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(CaptureComponent.class);

    public static final String NAME = "capture";
    /** The reason shown while the rules wait for Envoy. */
    public static final String WAITING_FOR_ENVOY = "waiting for envoy to be LIVE before capturing traffic";
    /**
     * How long after the first change event of a burst the check runs, so that the burst costs one check (later
     * events of the burst do not put it off).
     */
    static final Duration EVENT_DEBOUNCE = Duration.ofMillis(200);
    /** How soon a first apply that failed (the xtables lock held, a tool failing) is tried again. */
    static final Duration APPLY_RETRY = Duration.ofSeconds(2);

    /** What a verification found. */
    public record Check(Instant at, Drift drift, boolean repaired) {
    }

    /** A source of "netfilter changed" notifications; {@link #NONE} relies on the periodic check alone. */
    @FunctionalInterface
    public interface ChangeEvents {
        ChangeEvents NONE = onChange -> () -> { };

        /** Calls {@code onChange} (on any thread; it only wakes the loop) after every change, until closed. */
        AutoCloseable subscribe(Runnable onChange) throws Exception;
    }

    private final CaptureSettings settings;
    private final Path etc;
    private final NetfilterTools tools;
    private final ChangeEvents changeEvents;
    private final String envoyComponent;
    private final HandedOutAddresses handedOut;

    /**
     * @param etc where the host's passwd and group are
     * @param envoyComponent the component whose READY means Envoy is LIVE; when the agent has none, the rules go in
     *                       at once
     * @param handedOut the hosts block's addresses, whose VIPs are captured and followed while running
     */
    public CaptureComponent(CaptureSettings settings, Path etc, NetfilterTools tools, ChangeEvents changeEvents,
                            String envoyComponent, HandedOutAddresses handedOut) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.handedOut = Objects.requireNonNull(handedOut, "handedOut");
        this.etc = Objects.requireNonNull(etc, "etc");
        this.tools = Objects.requireNonNull(tools, "tools");
        this.changeEvents = Objects.requireNonNull(changeEvents, "changeEvents");
        this.envoyComponent = Objects.requireNonNull(envoyComponent, "envoyComponent");
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Plans from the settings, the host's facts and the hosts block's addresses; a plan that would capture SSH is a
     * configuration error. When the hosts sources cannot be read, the hosts component refuses them (with file and
     * line), so the plan here goes without their VIPs rather than reporting the same problem twice.
     */
    @Override
    public Planned prepare() throws IOException, ConfigException {
        CaptureSettings withAddresses = settings.withHostsAddresses(handedOut(settings.hostsAddresses()));
        return new Planned(this, withAddresses, CapturePlanner.forHost(withAddresses, etc));
    }

    /** The hosts block's addresses now, or {@code otherwise} when its sources cannot be read. */
    private List<InetAddress> handedOut(List<InetAddress> otherwise) {
        try {
            return handedOut.read();
        } catch (Exception e) {
            LOG.debug("hosts block addresses unreadable, keeping {}: {}", otherwise, e.toString());
            return otherwise;
        }
    }

    /** The prepared capture: the plan, and how it is put in place. */
    public static final class Planned implements Prepared {
        private final CaptureComponent component;
        private final CaptureSettings settings;
        private final CapturePlan plan;

        private Planned(CaptureComponent component, CaptureSettings settings, CapturePlan plan) {
            this.component = component;
            this.settings = settings;
            this.plan = plan;
        }

        public CapturePlan plan() {
            return plan;
        }

        /** The settings the plan was made from, the hosts block's addresses of that moment included. */
        public CaptureSettings settings() {
            return settings;
        }

        /** The same capture for the hosts block's {@code addresses} (same host facts). */
        Planned withHostsAddresses(List<InetAddress> addresses) throws ConfigException {
            CaptureSettings next = settings.withHostsAddresses(addresses);
            return new Planned(component, next, CapturePlanner.plan(next, plan.host()));
        }

        @Override
        public void describe(PrintWriter out) {
            out.print(plan.render());
            out.println();
            out.println(settings().failClosed()
                    ? "# start: fail-closed, the rules go in before Envoy starts (VM_AGENT_CAPTURE_FAIL_CLOSED=true)"
                    : "# start: the rules go in once " + component.envoyComponent + " is LIVE "
                            + "(VM_AGENT_CAPTURE_FAIL_CLOSED=false)");
            out.println("# running: verified every " + settings().verifyInterval() + " and on nftables changes, "
                    + "drift repaired; removed on stop");
            out.flush();
        }

        /** Chooses the backend (refusing a host that mixes them) and starts; fail-closed applies here. */
        @Override
        public Capturing start(ComponentContext context) throws CaptureException {
            Capturing capturing = new Capturing(this, context,
                    NetfilterCapture.open(component.tools, settings().backend()));
            capturing.begin();
            return capturing;
        }
    }

    /** The running capture: one loop applies (when allowed), verifies and repairs. */
    public static final class Capturing implements Running {
        private final ComponentContext context;
        private final NetfilterCapture netfilter;
        /** Fixed at start: the order of capture and Envoy is the assembly's, so a reload cannot change it. */
        private final boolean failClosed;
        private final String envoyComponent;
        private final ChangeEvents changeEvents;
        private final AtomicBoolean changeSeen = new AtomicBoolean();
        private final AtomicBoolean addressesChanged = new AtomicBoolean();
        private final RepairBackoff repairs = new RepairBackoff();
        /** Drift found while {@link #repairs} held the repair back: check again when it allows. */
        private boolean repairPending;
        private Planned current;
        private volatile boolean applied;
        private boolean stopped;
        /** When the next check is due: soon after change events, at least every verify interval; set once applied. */
        private Debouncer checks;
        private Check lastCheck;
        private String lastFailure;
        private volatile Loop loop;
        private volatile Runnable stopListening;
        private volatile AutoCloseable subscription;
        private volatile AutoCloseable addressSubscription;

        private Capturing(Planned planned, ComponentContext context, NetfilterCapture netfilter) {
            this.current = planned;
            this.context = context;
            this.netfilter = netfilter;
            this.failClosed = planned.settings().failClosed();
            this.envoyComponent = planned.component.envoyComponent;
            this.changeEvents = planned.component.changeEvents;
        }

        private synchronized void begin() throws CaptureException {
            if (failClosed) {
                try {
                    netfilter.apply(current.plan());
                } catch (CaptureException e) {
                    cleanAfterFailedStart();
                    throw e;
                }
                applied(context.clock().instant());
            } else {
                context.status().starting(mayApply(context.agent().snapshot()) ? "applying the capture rules"
                        : WAITING_FOR_ENVOY);
            }
            loop = context.startLoop(this::step);
            try {
                addressSubscription = current.component.handedOut.subscribe(() -> {
                    addressesChanged.set(true);
                    loop.wake();
                });
            } catch (Exception e) {
                LOG.warn("no hosts block change events ({}); its VIPs are followed every {}", e.getMessage(),
                        current.settings().verifyInterval());
            }
            if (netfilter.backend() == Backend.NFT) {
                try {
                    subscription = changeEvents.subscribe(() -> {
                        changeSeen.set(true);
                        loop.wake();
                    });
                } catch (Exception e) {
                    LOG.warn("no nftables change events ({}); relying on the check every {}", e.getMessage(),
                            current.settings().verifyInterval());
                }
            }
            if (!applied) {
                // Only wakes the loop, and only when Envoy becomes LIVE (not on this component's own reports, which
                // would retry a failed apply at once); the step looks at the state again and applies.
                AtomicBoolean wasLive = new AtomicBoolean();
                stopListening = context.agent().addListener(snapshot -> {
                    boolean live = mayApply(snapshot);
                    if (wasLive.getAndSet(live) != live && live && !applied) {
                        loop.wake();
                    }
                });
            }
        }

        private void cleanAfterFailedStart() {
            try {
                netfilter.clean(current.plan().tproxyRoute());
            } catch (CaptureException e) {
                LOG.error("removing the capture rules after a failed start: {}", e.getMessage());
            }
        }

        /** Fail-closed, or the Envoy component READY, or no Envoy component at all. */
        private boolean mayApply(AgentState.Snapshot snapshot) {
            return failClosed || snapshot.component(envoyComponent).map(c -> c.phase() == Phase.READY).orElse(true);
        }

        /** The loop's step. None runs after stop(), which closes the loop (waiting for a step in progress) first. */
        private synchronized Instant step(Instant now) {
            if (!applied) {
                if (!mayApply(context.agent().snapshot())) {
                    context.status().starting(WAITING_FOR_ENVOY);
                    return now.plus(current.settings().verifyInterval());
                }
                try {
                    followHostsBlock();
                    netfilter.apply(current.plan());
                } catch (CaptureException e) {
                    failed("cannot apply the capture rules, trying again in " + APPLY_RETRY.toSeconds() + " s: "
                            + e.getMessage());
                    return now.plus(APPLY_RETRY);
                }
                applied(now);
                return checks.deadline();
            }
            if (changeSeen.getAndSet(false)) {
                checks.changed(now);
            }
            boolean periodic = checks.due(now);
            try {
                if (addressesChanged.getAndSet(false) || periodic) {
                    followHostsBlock();
                }
                if (periodic || repairPending && repairs.mayRepair(now)) {
                    verifyAndRepair();
                }
            } catch (CaptureException e) {
                // Reported where it happened; the next check tries again.
            }
            Instant next = checks.deadline();
            Instant repairAt = repairs.notBefore();
            return repairPending && repairAt != null && repairAt.isBefore(next) ? repairAt : next;
        }

        /**
         * Plans again with the hosts block's addresses as they are now and, when that installs something else (a
         * VIP added or removed in hosts.d), replaces the rules; before the first apply it only keeps the new plan.
         */
        private void followHostsBlock() throws CaptureException {
            List<InetAddress> now = current.component.handedOut(current.settings().hostsAddresses());
            if (now.equals(current.settings().hostsAddresses())) {
                return;
            }
            Planned next;
            try {
                next = current.withHostsAddresses(now);
            } catch (ConfigException e) {
                failed("cannot plan for the hosts block's new addresses: " + e.getMessage());
                return;
            }
            if (applied && !current.plan().installsSameAs(next.plan())) {
                try {
                    netfilter.replace(current.plan(), next.plan());
                } catch (CaptureException e) {
                    failed("cannot follow the hosts block's addresses: " + e.getMessage());
                    throw e;
                }
                ownWriteDone();
                LOG.atInfo().addKeyValue("RULE_FAMILY", families(next.plan()))
                        .log("capture rules follow the hosts block: {} rules ({})", next.plan().ruleCount(),
                                next.plan().notes().stream().filter(n -> n.startsWith("VIPs")).findFirst()
                                        .orElse("no VIPs"));
            }
            current = next;
            if (applied) {
                reportFacts();
            }
        }

        private void applied(Instant now) {
            applied = true;
            ownWriteDone();
            lastCheck = new Check(now, new Drift(List.of()), false);
            lastFailure = null;
            checks = new Debouncer(EVENT_DEBOUNCE, EVENT_DEBOUNCE, current.settings().verifyInterval(), now);
            // Facts before the phase: whoever sees READY sees the rules that make it so.
            reportFacts();
            context.status().ready(inPlace());
            LOG.atInfo().addKeyValue("RULE_FAMILY", families(current.plan()))
                    .log("capture rules applied ({} backend); re-verified every {}", netfilter.backend().suffix(),
                            current.settings().verifyInterval());
            Runnable listening = stopListening;
            if (listening != null) {
                listening.run();
                stopListening = null;
            }
        }

        /**
         * Forgets the change events of the agent's own transaction, which would otherwise run a needless check
         * soon after. The kernel announces a change when it commits it, and apply reads the rules back afterwards,
         * so those events have normally arrived by now; one that arrives later only costs an extra check, and a
         * change by someone else after this still raises the flag.
         */
        private void ownWriteDone() {
            changeSeen.set(false);
        }

        /**
         * What capture holds, for STATUS=, /debug/status and metrics: the rules in place (none until applied),
         * their address families, the backend, and when netfilter was last compared with the plan.
         */
        private void reportFacts() {
            context.status().facts(facts(applied ? Optional.of(current.plan()) : Optional.empty(),
                    netfilter.backend().suffix(), Optional.ofNullable(lastCheck).map(Check::at)));
        }

        static Map<String, String> facts(Optional<CapturePlan> inPlace, String backend, Optional<Instant> verifiedAt) {
            Map<String, String> facts = new LinkedHashMap<>();
            facts.put("rules", Integer.toString(inPlace.map(CapturePlan::ruleCount).orElse(0)));
            facts.put("families", inPlace.map(plan -> java.util.Arrays.stream(IpFamily.values())
                    .filter(family -> !plan.rules(family).isEmpty())
                    .map(family -> family.name().toLowerCase(java.util.Locale.ROOT))
                    .collect(java.util.stream.Collectors.joining(","))).orElse(""));
            facts.put("backend", backend);
            verifiedAt.ifPresent(at -> facts.put("verified_at", at.toString()));
            return facts;
        }

        private String inPlace() {
            return "rules in place (" + netfilter.backend().suffix() + " backend)";
        }

        private void failed(String reason) {
            if (!reason.equals(lastFailure)) {
                LOG.error("{}", reason);
            }
            lastFailure = reason;
            context.status().failed(reason);
        }

        /** True once the rules went in (and until stop). */
        public boolean applied() {
            return applied;
        }

        /**
         * Compares netfilter with the plan and re-applies it when they differ. The loop calls it every interval;
         * public so that the drift tests can check at once.
         */
        public synchronized Check verifyAndRepair() throws CaptureException {
            if (stopped) {
                // A call after stop() (the loop runs no more steps, but a caller may) must not put back the
                // rules stop() removed.
                return lastCheck;
            }
            if (!applied) {
                throw new IllegalStateException("the capture rules are not applied yet");
            }
            Instant now = context.clock().instant();
            Drift drift;
            boolean repaired = false;
            try {
                drift = netfilter.verify(current.plan());
                context.agent().metrics().rulesVerified();
                if (drift.isEmpty()) {
                    repairs.clean();
                    repairPending = false;
                } else if (!repairs.mayRepair(now)) {
                    repairPending = true;
                    String reason = "another program keeps rewriting the capture rules (" + drift.chainsTouched()
                            + "); " + repairs.consecutive() + " repairs in a row, the next not before "
                            + repairs.notBefore();
                    context.status().degraded(reason);
                    lastCheck = new Check(now, drift, false);
                    return lastCheck;
                } else {
                    netfilter.apply(current.plan());
                    ownWriteDone();
                    context.agent().metrics().rulesRepaired();
                    repaired = true;
                    repairPending = false;
                    Duration wait = repairs.repaired(now);
                    if (repairs.consecutive() < 2) {
                        LOG.warn("capture rules changed outside the agent ({}); repairing:\n{}", drift.chainsTouched(),
                                drift.describe().stripTrailing());
                    } else {
                        LOG.warn("capture rules changed outside the agent again ({}), {} repairs in a row: another "
                                + "controller is rewriting them; repaired, and the next repair waits {}:\n{}",
                                drift.chainsTouched(), repairs.consecutive(), wait, drift.describe().stripTrailing());
                    }
                }
            } catch (CaptureException e) {
                failed("capture rules could not be verified or repaired: " + e.getMessage());
                throw e;
            }
            lastCheck = new Check(now, drift, repaired);
            lastFailure = null;
            reportFacts();
            if (repairs.consecutive() >= 2) {
                context.status().degraded(inPlace() + "; another program keeps rewriting them (" + drift.chainsTouched()
                        + "), repairs back off");
            } else {
                context.status().ready(inPlace());
            }
            return lastCheck;
        }

        public synchronized Check lastCheck() {
            return lastCheck;
        }

        /**
         * Replaces the rules when the new plan installs something else (one transaction per family), or keeps the
         * new plan for later while the rules wait for Envoy; a new verify interval applies from now. A backend or
         * start order that differs from what is running needs a restart.
         */
        @Override
        public synchronized Reconciled reload(Prepared next) throws CaptureException {
            if (!(next instanceof Planned target)) {
                throw new IllegalArgumentException("not a capture plan: " + next);
            }
            CaptureSettings was = current.settings();
            CaptureSettings now = target.settings();
            List<String> changes = new ArrayList<>();
            if (!current.plan().installsSameAs(target.plan())) {
                if (applied) {
                    netfilter.replace(current.plan(), target.plan());
                    ownWriteDone();
                    changes.add("rules replaced: " + target.plan().ruleCount() + " rules");
                } else {
                    changes.add("plan replaced: " + target.plan().ruleCount() + " rules, to go in once "
                            + envoyComponent + " is LIVE");
                }
            }
            if (!was.verifyInterval().equals(now.verifyInterval())) {
                changes.add("verified every " + now.verifyInterval());
                if (checks != null) {
                    checks.checkEvery(now.verifyInterval(), context.clock().instant());
                }
            }
            current = target;
            if (applied) {
                reportFacts();
            }
            if (!changes.isEmpty()) {
                // The step works out when it next runs from the new plan and interval.
                loop.wake();
            }
            Reconciled result = changes.isEmpty() ? Reconciled.unchanged() : Reconciled.changed(String.join("; ",
                    changes));
            List<String> restart = new ArrayList<>();
            if (!"auto".equals(now.backend()) && Backend.parse(now.backend()) != netfilter.backend()) {
                restart.add("VM_AGENT_IPTABLES_BACKEND=" + now.backend() + " but the rules are in the "
                        + netfilter.backend().suffix() + " backend: restart the agent (stopping removes them there, "
                        + "starting puts them in " + now.backend() + ")");
            }
            if (now.failClosed() != failClosed) {
                restart.add("VM_AGENT_CAPTURE_FAIL_CLOSED=" + now.failClosed() + " changes whether the rules go in "
                        + "before Envoy starts or once it is LIVE: restart the agent to apply it");
            }
            return restart.isEmpty() ? result : result.withRestartNeeded(String.join("; ", restart));
        }

        /** Stops the loop and the events, then removes every rule and route the agent owns. */
        @Override
        public void stop() throws CaptureException {
            // Not under the monitor: closing waits for a step in progress, which needs it.
            Loop running = loop;
            if (running != null) {
                running.close();
            }
            Runnable listening = stopListening;
            if (listening != null) {
                listening.run();
            }
            if (subscription != null) {
                try {
                    subscription.close();
                } catch (Exception e) {
                    LOG.warn("closing nftables change events: {}", e.toString());
                }
            }
            if (addressSubscription != null) {
                try {
                    addressSubscription.close();
                } catch (Exception e) {
                    LOG.warn("closing hosts block change events: {}", e.toString());
                }
            }
            synchronized (this) {
                stopped = true;
                applied = false;
                // The plan's route, not the configured one: with no mangle rules the agent installed none, and an
                // identical rule or route there belongs to someone else.
                netfilter.clean(current.plan().tproxyRoute());
            }
            LOG.info("capture rules removed");
        }
    }

    /** The families that have rules in {@code plan}, as the journal's RULE_FAMILY: "ipv4", "ipv4,ipv6" or "none". */
    static String families(CapturePlan plan) {
        List<String> families = new ArrayList<>();
        for (IpFamily family : IpFamily.values()) {
            if (!plan.rules(family).isEmpty()) {
                families.add(family.name().toLowerCase(java.util.Locale.ROOT));
            }
        }
        return families.isEmpty() ? "none" : String.join(",", families);
    }
}
