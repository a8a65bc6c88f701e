package io.istiovm.agent.status;

import io.istiovm.agent.lifecycle.AgentState;
import io.istiovm.agent.lifecycle.ComponentState;
import io.istiovm.agent.metrics.AgentMetrics;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.Unit;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The metrics that the agent's state already shows, derived from one {@link AgentState.Snapshot} at scrape time
 * rather than counted by each area: readiness (of the agent and of each component), the certificate's validity and
 * next rotation, the Envoy epoch, the capture rules and hosts entries in place. A fact a component does not report
 * (no identity yet, Envoy down) leaves its gauge out, so that "absent" means "unknown", never a made-up 0.
 */
final class StateMetrics {
    private static final String P = AgentMetrics.PREFIX;

    private StateMetrics() {
    }

    static List<MetricSnapshot> of(AgentState.Snapshot snapshot) {
        List<MetricSnapshot> all = new ArrayList<>();
        all.add(gauge(P + "ready", "1 when the agent runs and every component is ready or degraded, else 0.",
                null, List.of(point(snapshot.ready() ? 1 : 0, Labels.EMPTY))));
        List<GaugeDataPointSnapshot> components = new ArrayList<>();
        for (ComponentState c : snapshot.components()) {
            components.add(point(c.phase().serving() ? 1 : 0, Labels.of("component", c.name())));
        }
        all.add(gauge(P + "component_ready", "1 while the component is ready or degraded, else 0.", null,
                components));
        Optional<ComponentState> identity = snapshot.component("identity");
        instant(identity, "not_after").ifPresent(at -> all.add(timestamp(P + "certificate_expiry_timestamp_seconds",
                "When the current workload certificate expires (its notAfter), in seconds since the epoch.", at)));
        instant(identity, "not_before").ifPresent(at -> all.add(timestamp(
                P + "certificate_not_before_timestamp_seconds",
                "When the current workload certificate became valid (its notBefore), in seconds since the epoch.",
                at)));
        instant(identity, "next_rotation").ifPresent(at -> all.add(timestamp(
                P + "certificate_next_rotation_timestamp_seconds",
                "When the rotation policy will next renew the workload certificate, in seconds since the epoch.",
                at)));
        number(snapshot.component("envoy"), "epoch").ifPresent(epoch -> all.add(gauge(P + "envoy_epoch",
                "The hot-restart epoch of the Envoy the agent supervises.", null,
                List.of(point(epoch, Labels.EMPTY)))));
        number(snapshot.component("capture"), "rules").ifPresent(rules -> all.add(gauge(P + "capture_rules",
                "Capture rules in place (both address families).", null, List.of(point(rules, Labels.EMPTY)))));
        number(snapshot.component("hosts"), "entries").ifPresent(entries -> all.add(gauge(P + "hosts_entries",
                "Address lines in the agent's /etc/hosts block.", null, List.of(point(entries, Labels.EMPTY)))));
        snapshot.lastReload().ifPresent(reload -> all.add(timestamp(P + "last_reload_timestamp_seconds",
                "When the last configuration reload ended (accepted or refused), in seconds since the epoch.",
                reload.at())));
        return all;
    }

    private static Optional<Instant> instant(Optional<ComponentState> component, String fact) {
        try {
            return component.flatMap(c -> c.fact(fact)).map(Instant::parse);
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
    }

    private static Optional<Long> number(Optional<ComponentState> component, String fact) {
        try {
            return component.flatMap(c -> c.fact(fact)).map(Long::parseLong);
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static MetricSnapshot timestamp(String name, String help, Instant at) {
        return gauge(name, help, Unit.SECONDS, List.of(point(at.toEpochMilli() / 1000.0, Labels.EMPTY)));
    }

    private static GaugeDataPointSnapshot point(double value, Labels labels) {
        return GaugeDataPointSnapshot.builder().value(value).labels(labels).build();
    }

    private static MetricSnapshot gauge(String name, String help, Unit unit, List<GaugeDataPointSnapshot> points) {
        GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name(name).help(help);
        if (unit != null) {
            builder.unit(unit);
        }
        points.forEach(builder::dataPoint);
        return builder.build();
    }
}
