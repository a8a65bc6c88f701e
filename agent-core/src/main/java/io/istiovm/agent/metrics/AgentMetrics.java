package io.istiovm.agent.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * The agent's counted events, one instance (one registry) per agent process; each test makes its own. Areas count
 * what only they see (a rotation, a CA request, a repair, an Envoy crash) through the typed methods here; what the
 * agent's state already shows (readiness, the certificate's validity, the Envoy epoch) is derived from the state
 * snapshot at scrape time by the status server, never counted twice.
 *
 * <p>Every label takes its value from an enum, so that no label set can grow without bound (a CA error message or
 * a path never becomes a label value). Names follow Prometheus' conventions: the {@code istio_vm_agent_} prefix,
 * the unit in the name, {@code _total} for counters (the client library adds it in the exposition).
 */
public final class AgentMetrics {
    public static final String PREFIX = "istio_vm_agent_";

    /** Why a certificate rotation failed. */
    public enum RotationFailure {
        /** The CA could not be reached, refused, or its answer was unusable. */
        CA,
        /** The CA's answer is not a valid identity for this workload. */
        INVALID_IDENTITY,
        /** Reading the token or writing the identity files failed. */
        IO,
        /** Anything else (a bug). */
        INTERNAL
    }

    /** How one CA request ended. */
    public enum CaOutcome { OK, ERROR }

    /** How a reload ended. */
    public enum ReloadOutcome { ACCEPTED, REFUSED }

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter rotations;
    private final Counter rotationFailures;
    private final Histogram caRequests;
    private final Counter ruleVerifications;
    private final Counter ruleRepairs;
    private final Counter hostsUpdates;
    private final Counter envoyRestarts;
    private final Counter envoyHotRestarts;
    private final Counter envoyCrashes;
    private final Counter reloads;
    private final Counter envoyScrapeFailures;

    public AgentMetrics(String version) {
        Objects.requireNonNull(version, "version");
        rotations = Counter.builder().name(PREFIX + "certificate_rotations_total")
                .help("Workload certificates obtained from the CA and installed (rotations and enrolment).")
                .register(registry);
        rotationFailures = Counter.builder().name(PREFIX + "certificate_rotation_failures_total")
                .help("Failed certificate rotation attempts, by reason.")
                .labelNames("reason").register(registry);
        // Buckets for a round trip to istiod through the east-west gateway: a few ms on a LAN, up to the
        // VM_AGENT_CA_TIMEOUT (10 s by default) when the CA does not answer.
        caRequests = Histogram.builder().name(PREFIX + "ca_request_duration_seconds").unit(Unit.SECONDS)
                .help("Duration of certificate signing requests to the CA, by protocol and outcome.")
                .classicUpperBounds(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
                .labelNames("protocol", "outcome").register(registry);
        ruleVerifications = Counter.builder().name(PREFIX + "capture_rule_verifications_total")
                .help("Times the capture rules in place were compared with the plan.").register(registry);
        ruleRepairs = Counter.builder().name(PREFIX + "capture_rule_repairs_total")
                .help("Times capture rules that differed from the plan were put back.").register(registry);
        hostsUpdates = Counter.builder().name(PREFIX + "hosts_updates_total")
                .help("Times the agent's /etc/hosts block was written (created, changed or restored).")
                .register(registry);
        envoyRestarts = Counter.builder().name(PREFIX + "envoy_restarts_total")
                .help("Envoy processes started again after an unexpected exit.").register(registry);
        envoyHotRestarts = Counter.builder().name(PREFIX + "envoy_hot_restarts_total")
                .help("Hot restarts of Envoy to a new epoch (a changed bootstrap).").register(registry);
        envoyCrashes = Counter.builder().name(PREFIX + "envoy_crashes_total")
                .help("Envoy processes that exited without being asked to.").register(registry);
        reloads = Counter.builder().name(PREFIX + "reloads_total")
                .help("Configuration reloads (SIGHUP), by outcome.").labelNames("outcome").register(registry);
        envoyScrapeFailures = Counter.builder().name(PREFIX + "envoy_scrape_failures_total")
                .help("Scrapes of the merged metrics endpoint at which Envoy's own metrics could not be fetched.")
                .register(registry);
        Gauge build = Gauge.builder().name(PREFIX + "build_info")
                .help("The agent's version; always 1.").labelNames("version").register(registry);
        build.labelValues(version).set(1);
        // Every labelled series exists from the start at 0, so that rate() and absent() work from the first scrape.
        for (RotationFailure reason : RotationFailure.values()) {
            rotationFailures.labelValues(label(reason)).inc(0);
        }
        for (ReloadOutcome outcome : ReloadOutcome.values()) {
            reloads.labelValues(label(outcome)).inc(0);
        }
    }

    public void rotated() {
        rotations.inc();
    }

    public void rotationFailed(RotationFailure reason) {
        rotationFailures.labelValues(label(reason)).inc();
    }

    /** One request to the CA; {@code protocol} is the CA protocol's enum (its name, lower case, is the label). */
    public void caRequest(Enum<?> protocol, CaOutcome outcome, Duration took) {
        caRequests.labelValues(label(protocol), label(outcome)).observe(took.toNanos() / 1e9);
    }

    public void rulesVerified() {
        ruleVerifications.inc();
    }

    public void rulesRepaired() {
        ruleRepairs.inc();
    }

    public void hostsUpdated() {
        hostsUpdates.inc();
    }

    public void envoyRestarted() {
        envoyRestarts.inc();
    }

    public void envoyHotRestarted() {
        envoyHotRestarts.inc();
    }

    public void envoyCrashed() {
        envoyCrashes.inc();
    }

    public void reloaded(ReloadOutcome outcome) {
        reloads.labelValues(label(outcome)).inc();
    }

    public void envoyScrapeFailed() {
        envoyScrapeFailures.inc();
    }

    /** Everything counted so far, for the exposition. */
    public MetricSnapshots scrape() {
        return registry.scrape();
    }

    private static String label(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }
}
