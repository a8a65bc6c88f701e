package io.istiovm.agent.ca;

import io.istiovm.agent.certs.IdentityExpectation;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.IdentityValidator;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Comparator;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import javax.imageio.ImageIO;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Issue 14's fleet simulation: a mass reboot, in simulated time. {@code agents} VMs boot uniformly within one
 * second, each running the agent's real {@link Rotator} (and so the real {@link RotationPolicy}: the grace ratio and
 * its jitter, VM_AGENT_CERT_MIN_REMAINING, the one-minute floor, the CA backoff) on one simulated clock, for several
 * certificate lifetimes. Every CA request (an enrolment or a rotation, served or refused) is counted; the figure of
 * merit is the most requests in any sliding 1 s window, as a share of the fleet.
 *
 * <p>The CA stands in for {@link Renewal} at the rotator's {@link Rotator.Action} seam: Renewal is I/O (key, CSR,
 * gRPC, files) and takes no timing decision. It issues real X.509 certificates valid from the request's second
 * (X.509 dates have one-second resolution) for the TTL asked, so the policy sees the dates a real CA would give
 * it. With a capacity, requests beyond it in one second are refused and the agents back off as the policy says.
 *
 * <p>The goal (at most 5 % of the fleet in any 1 s window) is measured on rotations only: the boot enrolment
 * follows the reboot itself, which no rotation policy can spread (a VM needs an identity to serve); what the policy
 * decides is whether the fleet's later rotations stay in lockstep, lifetime after lifetime. The figures including
 * the boot enrolment are reported beside it.
 *
 * <p>The policy's jitter is the one Istio's pilot-agent applies (istio/istio master,
 * security/pkg/nodeagent/cache/secretcache.go {@code rotateTime}: the grace ratio plus a uniform draw in
 * ±SECRET_GRACE_PERIOD_RATIO_JITTER, default 0.01); the simulation shows it meets the goal, so the policy is used
 * as it is.
 */
public final class FleetRotationBenchmark {
    /** Istio's default workload certificate TTL (pilot-agent SECRET_TTL, 24h) and this agent's SECRET_TTL default. */
    public static final Duration ISTIO_DEFAULT_TTL = Duration.ofHours(24);
    /** The goal: at most this share of the fleet in any 1 s window of rotations. */
    public static final double GOAL_SHARE = 0.05;
    /** SECRET_GRACE_PERIOD_RATIO, its _JITTER, VM_AGENT_CERT_MIN_REMAINING, VM_AGENT_CA_BACKOFF_MAX defaults. */
    static final double DEFAULT_GRACE_RATIO = 0.5;
    static final double DEFAULT_GRACE_JITTER = 0.01;
    static final Duration DEFAULT_MIN_REMAINING = Duration.ofHours(6);
    static final Duration DEFAULT_BACKOFF_MAX = Duration.ofMinutes(2);
    private static final long WINDOW_MILLIS = 1000;
    private static final Instant T0 = Instant.parse("2026-12-01T00:00:00Z");
    private static final String TRUST_DOMAIN = "cluster.local";
    private static final String NAMESPACE = "vm";

    private FleetRotationBenchmark() {
    }

    /** How the fleet gets its first certificate. */
    public enum Start {
        /** Every VM enrols at boot (the first CSR): the fleet's certificates are issued within the boot second. */
        ENROL_AT_BOOT,
        /** Every VM holds the one certificate baked into its image an hour before boot (one NotBefore for all). */
        ONE_IMAGE
    }

    /**
     * One simulation.
     *
     * @param agents     VMs in the fleet, booting uniformly within one second
     * @param policy     the rotation policy, as the assembly builds it from the configuration
     * @param ttl        the certificate lifetime the CA issues (SECRET_TTL)
     * @param lifetimes  lifetimes simulated after boot
     * @param caCapacity CA requests served per second (the rest refused, and the agents back off); 0: unlimited
     * @param seed       the seed of every random draw (boot instants, the policy's jitter and backoff)
     */
    public record FleetScenario(int agents, Start start, RotationPolicy policy, Duration ttl, int lifetimes,
                                int caCapacity, long seed) {
        public FleetScenario {
            Objects.requireNonNull(start, "start");
            Objects.requireNonNull(policy, "policy");
            Objects.requireNonNull(ttl, "ttl");
            if (agents < 1 || lifetimes < 1 || caCapacity < 0 || ttl.compareTo(Duration.ofMinutes(10)) < 0) {
                throw new IllegalArgumentException("a fleet of at least one agent, for at least one lifetime of "
                        + "at least 10 minutes, and a CA capacity of 0 (unlimited) or more");
            }
        }

        /** The same fleet under the same policy with its jitter forced to zero: the baseline. */
        public FleetScenario withoutJitter() {
            return new FleetScenario(agents, start, new RotationPolicy(policy.graceRatio(), 0, policy.minRemaining(),
                    policy.initialBackoff(), policy.maxBackoff()), ttl, lifetimes, caCapacity, seed);
        }

        /** The lifetimes and a quarter more, so that the last wave (spread either side by the jitter) is whole. */
        Duration length() {
            return ttl.multipliedBy(lifetimes).plus(ttl.dividedBy(4));
        }
    }

    /**
     * The figures of one simulation, as plain fields for docs/benchmarks.json. Peaks are the most requests in any
     * sliding 1 s window; shares are a peak over {@code agents}.
     *
     * @param requests     CA requests over the run: enrolments and rotations, refused ones included
     * @param rotations    requests from a VM that already held a certificate
     * @param rotationPeak what the goal is measured on
     * @param refused      requests the CA refused for lack of capacity, each followed by a backoff
     * @param goalMet      {@code rotationPeakShare <= goalShare}
     */
    public record FleetResult(Start start, int agents, long ttlSeconds, int lifetimes, int caCapacity, double jitter,
                              long requests, int peak, double peakShare, long rotations, int rotationPeak,
                              double rotationPeakShare, long refused, double goalShare, boolean goalMet) {
        public FleetResult {
            Objects.requireNonNull(start, "start");
            if (agents < 1 || rotations > requests || refused > requests || peak > requests || rotationPeak > peak
                    || rotationPeak > rotations || peakShare != (double) peak / agents
                    || rotationPeakShare != (double) rotationPeak / agents
                    || goalMet != (rotationPeakShare <= goalShare)) {
                throw new IllegalArgumentException("inconsistent fleet figures");
            }
        }

        static FleetResult of(FleetScenario s, long requests, int peak, long rotations, int rotationPeak,
                              long refused) {
            double rotationShare = (double) rotationPeak / s.agents();
            return new FleetResult(s.start(), s.agents(), s.ttl().toSeconds(), s.lifetimes(), s.caCapacity(),
                    s.policy().jitter(), requests, peak, (double) peak / s.agents(), rotations, rotationPeak,
                    rotationShare, refused, GOAL_SHARE, rotationShare <= GOAL_SHARE);
        }
    }

    /** A result and the instants of its requests (epoch milliseconds, sorted), for the histogram. */
    record Simulation(FleetScenario scenario, FleetResult result, long[] requestMillis) {
    }

    /** The policy the configuration's defaults give, as the assembly builds it (IdentityArea). */
    public static RotationPolicy defaultPolicy() {
        return new RotationPolicy(DEFAULT_GRACE_RATIO, DEFAULT_GRACE_JITTER, DEFAULT_MIN_REMAINING,
                RotationPolicy.INITIAL_BACKOFF, DEFAULT_BACKOFF_MAX);
    }

    /**
     * The reported scenarios, each to be run with and without jitter: the mass reboot with enrolment at boot, the
     * fleet from one image, and the mass reboot against a CA serving a tenth of the fleet per second (the backoff).
     */
    public static List<FleetScenario> scenarios(int agents, long seed) {
        RotationPolicy policy = defaultPolicy();
        return List.of(new FleetScenario(agents, Start.ENROL_AT_BOOT, policy, ISTIO_DEFAULT_TTL, 3, 0, seed),
                new FleetScenario(agents, Start.ONE_IMAGE, policy, ISTIO_DEFAULT_TTL, 3, 0, seed),
                new FleetScenario(agents, Start.ENROL_AT_BOOT, policy, ISTIO_DEFAULT_TTL, 3,
                        Math.max(1, agents / 10), seed));
    }

    /** Runs {@code scenario} to its end: deterministic for its seed. What a benchmark command calls. */
    public static FleetResult run(FleetScenario scenario) {
        return simulate(scenario).result();
    }

    static Simulation simulate(FleetScenario scenario) {
        SplittableRandom seeds = new SplittableRandom(scenario.seed());
        SimulatedClock clock = new SimulatedClock();
        SimulatedCa ca = new SimulatedCa(clock, scenario.ttl(), scenario.caCapacity());
        Optional<WorkloadIdentity> image = scenario.start() == Start.ONE_IMAGE
                ? Optional.of(ca.issue(T0.minus(Duration.ofHours(1)))) : Optional.empty();
        PriorityQueue<Agent> queue = new PriorityQueue<>(Comparator.comparing((Agent a) -> a.next)
                .thenComparingInt(a -> a.index));
        for (int i = 0; i < scenario.agents(); i++) {
            queue.add(new Agent(i, T0.plusNanos(seeds.nextLong(1_000_000_000L)), seeds.split()));
        }
        Instant end = T0.plus(scenario.length());
        while (queue.peek().next.isBefore(end)) {
            Agent agent = queue.poll();
            clock.now = agent.next;
            if (agent.rotator == null) {
                // The agent's process starts: it schedules the identity it holds, as IdentityComponent does.
                agent.rotator = new Rotator(clock, scenario.policy(), agent.random, new IdentityState(), ca::renew);
                image.ifPresent(agent.rotator::adopt);
            }
            Instant next = agent.rotator.tick();
            if (!next.isAfter(agent.next)) {
                throw new IllegalStateException("the rotator asked to run again at once (" + next + ")");
            }
            agent.next = next;
            queue.add(agent);
        }
        long[] requests = ca.requests.build().sorted().toArray();
        long[] rotations = ca.rotations.build().sorted().toArray();
        return new Simulation(scenario, FleetResult.of(scenario, requests.length, busiestWindow(requests),
                rotations.length, busiestWindow(rotations), ca.refused), requests);
    }

    /** Most instants of {@code sorted} (milliseconds) in any window [t, t + 1 s): sliding, not aligned seconds. */
    static int busiestWindow(long[] sorted) {
        int best = 0;
        int from = 0;
        for (int to = 0; to < sorted.length; to++) {
            while (sorted[to] - sorted[from] >= WINDOW_MILLIS) {
                from++;
            }
            best = Math.max(best, to - from + 1);
        }
        return best;
    }

    private static final class Agent {
        final int index;
        final SplittableRandom random;
        Rotator rotator;
        Instant next;

        Agent(int index, Instant boot, SplittableRandom random) {
            this.index = index;
            this.next = boot;
            this.random = random;
        }
    }

    /** The one clock the simulation moves and every rotator and the CA read. */
    private static final class SimulatedClock extends Clock {
        Instant now = T0;

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        /** The same simulated instant, read in another zone (nothing in the simulation asks; the contract does). */
        @Override
        public Clock withZone(ZoneId zone) {
            SimulatedClock simulation = this;
            return new Clock() {
                @Override
                public Instant instant() {
                    return simulation.now;
                }

                @Override
                public ZoneId getZone() {
                    return zone;
                }

                @Override
                public Clock withZone(ZoneId other) {
                    return simulation.withZone(other);
                }
            };
        }
    }

    /**
     * The mesh CA. One leaf key for the whole fleet (keys are Renewal's business, not the policy's) and one
     * certificate per issuing second, shared by the agents served in it (each keeps its own IdentityState), so a
     * run signs at most one certificate per simulated second. RSA-1024: the key size decides nothing here, and its
     * signatures are the cheapest the validator's checks accept (some 5000 certificates per jittered run).
     */
    private static final class SimulatedCa {
        private final Clock clock;
        private final Duration ttl;
        private final int capacity;
        private final KeyPair rootKeys = rsaKeys();
        private final KeyPair leafKeys = rsaKeys();
        private final X500Name rootName = new X500Name("CN=fleet simulation root,O=istio-vm-agent");
        private final X509Certificate root;
        private final IdentityValidator validator = new IdentityValidator(
                new IdentityExpectation(TRUST_DOMAIN, NAMESPACE, Optional.empty()), "key", "chain", "root");
        private final Map<Long, WorkloadIdentity> bySecond = new HashMap<>();
        private final Map<Long, Integer> servedBySecond = new HashMap<>();
        final LongStream.Builder requests = LongStream.builder();
        final LongStream.Builder rotations = LongStream.builder();
        long refused;
        private long serial;

        SimulatedCa(Clock clock, Duration ttl, int capacity) {
            this.clock = clock;
            this.ttl = ttl;
            this.capacity = capacity;
            this.root = sign(rootName, rootKeys.getPublic(), T0.minus(Duration.ofDays(1)),
                    T0.plus(Duration.ofDays(3650)), true);
        }

        WorkloadIdentity renew(Optional<WorkloadIdentity> current) throws CaException {
            Instant now = clock.instant();
            requests.add(now.toEpochMilli());
            if (current.isPresent()) {
                rotations.add(now.toEpochMilli());
            }
            long second = now.getEpochSecond();
            if (capacity > 0 && servedBySecond.merge(second, 1, Integer::sum) > capacity) {
                refused++;
                throw new CaException("the CA is at capacity (" + capacity + " requests per second)");
            }
            return bySecond.computeIfAbsent(second, s -> issue(Instant.ofEpochSecond(s)));
        }

        WorkloadIdentity issue(Instant notBefore) {
            X509Certificate leaf = sign(new X500Name(new RDN[0]), leafKeys.getPublic(), notBefore,
                    notBefore.plus(ttl), false);
            try {
                return validator.validate(leafKeys.getPrivate(), List.of(leaf), List.of(root), notBefore);
            } catch (InvalidIdentityException e) {
                throw new IllegalStateException("the simulated CA issued a certificate the agent refuses", e);
            }
        }

        /** As Istio's CA issues a workload certificate: a SPIFFE URI SAN, digital signature, server and client auth. */
        private X509Certificate sign(X500Name subject, PublicKey key, Instant notBefore, Instant notAfter,
                                     boolean ca) {
            try {
                X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(rootName,
                        BigInteger.valueOf(++serial), Date.from(notBefore), Date.from(notAfter), subject, key);
                builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
                if (ca) {
                    builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign));
                } else {
                    builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
                    builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
                    builder.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(new GeneralName(
                            GeneralName.uniformResourceIdentifier,
                            "spiffe://" + TRUST_DOMAIN + "/ns/" + NAMESPACE + "/sa/fleet")));
                }
                return new JcaX509CertificateConverter().getCertificate(builder.build(
                        new JcaContentSignerBuilder("SHA256withRSA").build(rootKeys.getPrivate())));
            } catch (Exception e) {
                throw new IllegalStateException("cannot sign a simulated certificate", e);
            }
        }

        private static KeyPair rsaKeys() {
            try {
                KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
                generator.initialize(1024);
                return generator.generateKeyPair();
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    // ---- report ----------------------------------------------------------------------------------------------

    /**
     * {@code [png] [agents] [seed]}: prints the table of every scenario with and without jitter, and writes the
     * histogram of the mass reboot (enrolment at boot, unlimited CA) to {@code png} when given. From the top of the
     * checkout: {@code mvn -o -q -pl agent-core compile exec:java
     * -Dexec.mainClass=io.istiovm.agent.ca.FleetRotationBenchmark
     * -Dexec.args="$PWD/docs/benchmarks/fleet-rotation.png"}.
     */
    public static void main(String[] args) throws IOException {
        // The rotator logs every schedule at info: thousands of lines for a simulated fleet. The agent's logging
        // backend reads this property when slf4j starts, which is after this line (no logger exists yet).
        if (System.getProperty("istiovm.log.level") == null) {
            System.setProperty("istiovm.log.level", "warn,io.istiovm.agent.ca.Rotator=off");
        }
        Optional<Path> png = args.length > 0 ? Optional.of(Path.of(args[0])) : Optional.empty();
        int agents = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        long seed = args.length > 2 ? Long.parseLong(args[2]) : 1;
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        RotationPolicy policy = defaultPolicy();
        out.printf(Locale.ROOT, "fleet rotation: %d agents booting within 1 s, TTL %dh, 3 lifetimes, grace ratio "
                        + "%.2f +/- %.3f, min remaining %s, backoff %s..%s, seed %d%npeaks: most CA requests in any "
                        + "sliding 1 s window; goal: rotations <= %.0f%% of the fleet%n", agents,
                ISTIO_DEFAULT_TTL.toHours(), policy.graceRatio(), policy.jitter(), policy.minRemaining(),
                policy.initialBackoff(), policy.maxBackoff(), seed, 100 * GOAL_SHARE);
        out.printf(Locale.ROOT, "%-13s %8s %6s %8s %7s %7s %9s %9s %7s %5s%n", "start", "CA cap/s", "jitter",
                "requests", "peak/s", "share", "rot.peak", "rot.share", "refused", "goal");
        Simulation plotted = null;
        Simulation plottedFlat = null;
        for (FleetScenario scenario : scenarios(agents, seed)) {
            Simulation jittered = simulate(scenario);
            Simulation flat = simulate(scenario.withoutJitter());
            printRow(out, jittered.result());
            printRow(out, flat.result());
            if (plotted == null) {
                plotted = jittered;
                plottedFlat = flat;
            }
        }
        if (png.isPresent()) {
            writeHistogram(plotted, plottedFlat, png.get());
            out.println("histogram: " + png.get());
        }
    }

    private static void printRow(PrintWriter out, FleetResult r) {
        out.printf(Locale.ROOT, "%-13s %8s %6.3f %8d %7d %6.1f%% %9d %8.1f%% %7d %5s%n",
                r.start().name().toLowerCase(Locale.ROOT), r.caCapacity() == 0 ? "-" : r.caCapacity(), r.jitter(),
                r.requests(), r.peak(), 100 * r.peakShare(), r.rotationPeak(), 100 * r.rotationPeakShare(),
                r.refused(), r.goalMet() ? "met" : "MISS");
    }

    // ---- plot ------------------------------------------------------------------------------------------------

    private static final int WIDTH = 1200;
    private static final int PANEL_HEIGHT = 300;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 40;
    static final Color FLAT = new Color(0xd6, 0x27, 0x28);
    static final Color JITTER = new Color(0x1f, 0x77, 0xb4);

    /**
     * Two panels, log-y requests per second: the whole run (each pixel column shows the busiest second it covers),
     * and a zoom at one-second resolution on the first rotation window, where the jittered fleet's spread shows.
     */
    static void writeHistogram(Simulation jittered, Simulation flat, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage image = new BufferedImage(WIDTH, TOP + 2 * (PANEL_HEIGHT + 70), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            FleetScenario s = jittered.scenario();
            g.drawString(String.format(Locale.ROOT, "Mass reboot: %d agents, TTL %dh, CA requests per second "
                    + "(log scale); the boot enrolment (hour 0) is the same in both", s.agents(), s.ttl().toHours()),
                    LEFT, 22);
            long from = T0.toEpochMilli();
            long to = T0.plus(s.length()).toEpochMilli();
            panel(g, TOP, "whole run (hours after boot; each column: its busiest second)", jittered, flat, from, to,
                    Duration.ofHours(6).toMillis(), 3_600_000, "h", s.agents(), from);
            long firstRotation = T0.plus(Duration.ofMillis((long) (s.ttl().toMillis()
                    * (1 - s.policy().graceRatio())))).toEpochMilli();
            long half = Duration.ofMinutes(20).toMillis();
            panel(g, TOP + PANEL_HEIGHT + 70, "zoom: first rotation (minutes from the policy's rotation point, "
                            + "1 s per bucket)", jittered, flat, firstRotation - half, firstRotation + half,
                    Duration.ofMinutes(5).toMillis(), 60_000, "min", s.agents(), firstRotation);
        } finally {
            g.dispose();
        }
        Path parent = png.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!ImageIO.write(image, "png", png.toFile())) {
            throw new IOException("no PNG writer in this JDK");
        }
    }

    private static void panel(Graphics2D g, int top, String title, Simulation jittered, Simulation flat, long from,
                              long to, long tickEvery, long tickUnit, String unit, int agents, long origin) {
        int plotWidth = WIDTH - LEFT - RIGHT;
        int bottom = top + PANEL_HEIGHT;
        double maxLog = Math.log10(Math.max(10, agents));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setColor(Color.BLACK);
        g.drawString(title, LEFT, top + 12);
        int plotTop = top + 20;
        int plotHeight = bottom - plotTop;
        for (int decade = 0; decade <= (int) maxLog; decade++) {
            int y = y((int) Math.pow(10, decade), bottom, plotHeight, maxLog);
            g.setColor(new Color(0xdd, 0xdd, 0xdd));
            g.drawLine(LEFT, y, LEFT + plotWidth, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.valueOf((long) Math.pow(10, decade)), LEFT - 45, y + 4);
        }
        int goal = (int) Math.floor(GOAL_SHARE * agents);
        int goalY = y(goal, bottom, plotHeight, maxLog);
        g.setColor(new Color(0x2c, 0xa0, 0x2c));
        g.setStroke(new BasicStroke(1, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
        g.drawLine(LEFT, goalY, LEFT + plotWidth, goalY);
        g.drawString("goal: " + goal + "/s (5 %)", LEFT + plotWidth - 120, goalY - 4);
        g.setStroke(new BasicStroke(1));
        int[] flatColumns = columns(flat.requestMillis(), from, to, plotWidth);
        int[] jitterColumns = columns(jittered.requestMillis(), from, to, plotWidth);
        bars(g, flatColumns, FLAT, bottom, plotHeight, maxLog, 3);
        bars(g, jitterColumns, JITTER, bottom, plotHeight, maxLog, 1);
        g.setColor(Color.BLACK);
        g.drawRect(LEFT, plotTop, plotWidth, plotHeight);
        long firstTick = origin - ((origin - from) / tickEvery) * tickEvery;
        for (long t = firstTick; t <= to; t += tickEvery) {
            int x = LEFT + (int) ((t - from) * plotWidth / (to - from));
            g.drawLine(x, bottom, x, bottom + 4);
            g.drawString(((t - origin) / tickUnit) + " " + unit, x - 12, bottom + 18);
        }
        g.setColor(FLAT);
        g.fillRect(LEFT, bottom + 30, 12, 12);
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, "no jitter: rotations peak %d/s (%.1f %%)",
                flat.result().rotationPeak(), 100 * flat.result().rotationPeakShare()), LEFT + 18, bottom + 41);
        g.setColor(JITTER);
        g.fillRect(LEFT + 420, bottom + 30, 12, 12);
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, "jitter %.3f: rotations peak %d/s (%.1f %%)",
                jittered.result().jitter(), jittered.result().rotationPeak(),
                100 * jittered.result().rotationPeakShare()), LEFT + 438, bottom + 41);
    }

    /** Per pixel column, the most requests in one aligned second within the column's span. */
    private static int[] columns(long[] sortedMillis, long from, long to, int width) {
        int[] columns = new int[width];
        int i = 0;
        while (i < sortedMillis.length && sortedMillis[i] < from) {
            i++;
        }
        while (i < sortedMillis.length && sortedMillis[i] < to) {
            long second = Math.floorDiv(sortedMillis[i], 1000);
            int count = 0;
            while (i < sortedMillis.length && Math.floorDiv(sortedMillis[i], 1000) == second) {
                count++;
                i++;
            }
            int column = (int) Math.min(width - 1, Math.max(0, (second * 1000 - from) * width / (to - from)));
            columns[column] = Math.max(columns[column], count);
        }
        return columns;
    }

    private static void bars(Graphics2D g, int[] columns, Color color, int bottom, int plotHeight, double maxLog,
                             int thickness) {
        g.setColor(color);
        for (int x = 0; x < columns.length; x++) {
            if (columns[x] > 0) {
                int y = y(columns[x], bottom, plotHeight, maxLog);
                // A lone request per second sits on the axis (log 1 = 0): give it a visible stub.
                g.fillRect(LEFT + x, Math.min(y, bottom - 3), thickness, Math.max(3, bottom - y));
            }
        }
    }

    private static int y(int count, int bottom, int plotHeight, double maxLog) {
        return bottom - (int) Math.round(plotHeight * Math.log10(Math.max(1, count)) / (maxLog + 0.1));
    }
}
