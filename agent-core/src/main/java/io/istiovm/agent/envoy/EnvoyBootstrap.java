package io.istiovm.agent.envoy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.net.Inet6Address;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * The planned Envoy v3 bootstrap: pure (settings in, JSON out), validated against Envoy's schema before anyone
 * can use it. The layout follows Istio's sidecar bootstrap: admin on loopback, {@code xds-grpc} to the discovery
 * address (mTLS with certificates from SDS), {@code sds-grpc} on the agent's unix socket, and the Prometheus and
 * readiness listeners.
 */
public final class EnvoyBootstrap {
    static final String XDS_CLUSTER = "xds-grpc";
    static final String SDS_CLUSTER = "sds-grpc";
    /** SDS resource names Istio uses: the workload certificate and the trust anchors. */
    public static final String WORKLOAD_SECRET = "default";
    public static final String ROOT_SECRET = "ROOTCA";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Bootstrap proto;
    private final String json;

    private EnvoyBootstrap(Bootstrap proto) {
        this.proto = proto;
        this.json = BootstrapSchema.print(proto);
    }

    /**
     * Plans the bootstrap; {@code override} is the content of ISTIO_BOOTSTRAP_OVERRIDE (merged field by field the
     * way Envoy merges {@code --config-yaml}: scalars replace, lists append).
     */
    public static EnvoyBootstrap plan(EnvoySettings settings, Optional<Override> override)
            throws InvalidBootstrapException {
        Bootstrap generated = BootstrapSchema.parse(generate(settings).toString(), "generated bootstrap");
        if (override.isEmpty()) {
            return new EnvoyBootstrap(BootstrapSchema.validate(generated, "generated bootstrap"));
        }
        Bootstrap extra = BootstrapSchema.parse(override.get().json(), override.get().origin());
        // The rules judge what Envoy gets, the merge: an override may complete what it alone leaves out.
        return new EnvoyBootstrap(BootstrapSchema.validate(generated.toBuilder().mergeFrom(extra).build(),
                override.get().origin() + " merged into the generated bootstrap"));
    }

    /** Plans from the settings, reading ISTIO_BOOTSTRAP_OVERRIDE from disk when it is set. */
    public static EnvoyBootstrap plan(EnvoySettings settings) throws InvalidBootstrapException {
        return plan(settings, Override.read(settings.bootstrapOverride()));
    }

    /** Parses an existing bootstrap file (what Envoy would be given) strictly, with Envoy's validation rules. */
    public static EnvoyBootstrap parse(String json, String origin) throws InvalidBootstrapException {
        return new EnvoyBootstrap(BootstrapSchema.validate(BootstrapSchema.parse(json, origin), origin));
    }

    public Bootstrap proto() {
        return proto;
    }

    public String json() {
        return json;
    }

    /** SHA-256 of the JSON: an equal digest means there is nothing to hot-restart for. */
    public String digest() {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(json.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The content of ISTIO_BOOTSTRAP_OVERRIDE and the file it came from. */
    public record Override(String origin, String json) {
        static Optional<Override> read(Optional<Path> file) throws InvalidBootstrapException {
            if (file.isEmpty()) {
                return Optional.empty();
            }
            try {
                return Optional.of(new Override(file.get().toString(), Files.readString(file.get())));
            } catch (IOException e) {
                throw new InvalidBootstrapException(file.get() + ": ISTIO_BOOTSTRAP_OVERRIDE cannot be read: " + e,
                        e);
            }
        }
    }

    static ObjectNode generate(EnvoySettings s) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode node = root.putObject("node");
        node.put("id", s.nodeId());
        node.put("cluster", s.serviceCluster());
        ObjectNode metadata = node.putObject("metadata");
        for (Map.Entry<String, JsonNode> entry : s.nodeMetadata().entrySet()) {
            metadata.set(entry.getKey(), entry.getValue());
        }
        // pilot-agent always announces these (Istio 1.8's pilot/pkg/model NodeMetadata names and JSON shapes:
        // ports as numbers, PROXY_CONFIG as an object); istiod keys workload selection, EnvoyFilter proxyVersion
        // matching and auto-registration on them. An ISTIO_META_* key of the same name wins, as in pilot-agent.
        metadata.putIfAbsent("NAMESPACE", text(s.namespace()));
        metadata.putIfAbsent("SERVICE_ACCOUNT", text(s.serviceAccount()));
        metadata.putIfAbsent("INSTANCE_IPS", text(io.istiovm.agent.config.IpAddresses.format(s.instanceIp())));
        metadata.putIfAbsent("NAME", text(s.podName()));
        metadata.putIfAbsent("INTERCEPTION_MODE", text(s.interceptionMode()));
        metadata.putIfAbsent("ENVOY_STATUS_PORT", JSON.getNodeFactory().numberNode(s.statusPort()));
        metadata.putIfAbsent("ENVOY_PROMETHEUS_PORT", JSON.getNodeFactory().numberNode(s.prometheusPort()));
        metadata.putIfAbsent("PROXY_CONFIG", proxyConfig(s));

        root.putObject("admin").set("address", adminAddress(s.adminAddress()));

        ObjectNode dynamic = root.putObject("dynamic_resources");
        // initial_fetch_timeout 0s, as Istio's template: without it Envoy gives up waiting for listeners after 15 s
        // and goes LIVE with none, and the supervisor would take that for ready.
        for (String config : new String[] {"lds_config", "cds_config"}) {
            ObjectNode source = dynamic.putObject(config);
            source.put("resource_api_version", "V3").put("initial_fetch_timeout", "0s").putObject("ads");
        }
        dynamic.set("ads_config", grpcSource(XDS_CLUSTER));

        ObjectNode statics = root.putObject("static_resources");
        ArrayNode clusters = statics.putArray("clusters");
        clusters.add(xdsCluster(s));
        clusters.add(sdsCluster(s));
        ObjectNode prometheus = staticCluster("prometheus_stats", "127.0.0.1", s.adminPort());
        prometheus.set("load_assignment", loadAssignment("prometheus_stats", adminAddress(s.adminAddress())));
        clusters.add(prometheus);
        clusters.add(staticCluster("agent", "127.0.0.1", s.agentStatusPort()));
        ArrayNode listeners = statics.putArray("listeners");
        // The mesh-facing listeners on the workload's family, as Istio does: "::" on an IPv6 workload, whose peers
        // reach it over IPv6. The admin and the agent's own endpoints stay on 127.0.0.1, where they listen.
        String wildcard = s.instanceIp() instanceof Inet6Address ? "::" : "0.0.0.0";
        listeners.add(httpListener("prometheus", wildcard, s.prometheusPort(), "/stats/prometheus",
                "prometheus_stats"));
        listeners.add(httpListener("readiness", wildcard, s.statusPort(), "/healthz/ready", "agent"));
        return root;
    }

    private static ObjectNode xdsCluster(EnvoySettings s) {
        ObjectNode cluster = JSON.createObjectNode();
        cluster.put("name", XDS_CLUSTER);
        cluster.put("type", "STRICT_DNS");
        // The record's TTL decides when to look again (Istio's template: respect_dns_ttl); a failed lookup is
        // retried within seconds, not after the 300 s refresh, so a control plane that is not resolvable yet at
        // start (hosts block not written, DNS down) does not hold xDS back for five minutes.
        cluster.put("dns_refresh_rate", "300s");
        cluster.put("respect_dns_ttl", true);
        cluster.putObject("dns_failure_refresh_rate").put("base_interval", "1s").put("max_interval", "10s");
        // Istio: V6_ONLY for an IPv6 workload (pkg/bootstrap: all instance IPs IPv6).
        cluster.put("dns_lookup_family", s.instanceIp() instanceof Inet6Address ? "V6_ONLY" : "V4_PREFERRED");
        cluster.put("connect_timeout", "1s");
        cluster.put("lb_policy", "ROUND_ROBIN");
        http2(cluster);
        ArrayNode thresholds = cluster.putObject("circuit_breakers").putArray("thresholds");
        for (String priority : new String[] {"DEFAULT", "HIGH"}) {
            thresholds.addObject().put("priority", priority).put("max_connections", 100000)
                    .put("max_pending_requests", 100000).put("max_requests", 100000);
        }
        cluster.putObject("upstream_connection_options").putObject("tcp_keepalive").put("keepalive_time", 300);
        cluster.set("load_assignment", loadAssignment(XDS_CLUSTER,
                socketAddress(s.discoveryAddress().host(), s.discoveryAddress().port())));
        if (s.mutualTls()) {
            ObjectNode tls = JSON.createObjectNode();
            tls.put("@type", "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
            tls.put("sni", s.istiodSan());
            ObjectNode common = tls.putObject("common_tls_context");
            common.putArray("alpn_protocols").add("h2");
            common.putArray("tls_certificate_sds_secret_configs").add(sdsSecret(WORKLOAD_SECRET));
            ObjectNode combined = common.putObject("combined_validation_context");
            combined.putObject("default_validation_context").putArray("match_typed_subject_alt_names").addObject()
                    .put("san_type", "DNS").putObject("matcher").put("exact", s.istiodSan());
            combined.set("validation_context_sds_secret_config", sdsSecret(ROOT_SECRET));
            ObjectNode socket = cluster.putObject("transport_socket");
            socket.put("name", "envoy.transport_sockets.tls");
            socket.set("typed_config", tls);
        }
        return cluster;
    }

    private static ObjectNode sdsCluster(EnvoySettings s) {
        ObjectNode cluster = JSON.createObjectNode();
        cluster.put("name", SDS_CLUSTER);
        cluster.put("type", "STATIC");
        cluster.put("connect_timeout", "1s");
        http2(cluster);
        ObjectNode pipe = JSON.createObjectNode();
        pipe.putObject("pipe").put("path", s.sdsSocket().toString());
        cluster.set("load_assignment", loadAssignment(SDS_CLUSTER, pipe));
        return cluster;
    }

    private static ObjectNode staticCluster(String name, String host, int port) {
        ObjectNode cluster = JSON.createObjectNode();
        cluster.put("name", name);
        cluster.put("type", "STATIC");
        cluster.put("connect_timeout", "0.250s");
        cluster.set("load_assignment", loadAssignment(name, socketAddress(host, port)));
        return cluster;
    }

    private static ObjectNode httpListener(String name, String wildcard, int port, String prefix, String cluster) {
        ObjectNode listener = JSON.createObjectNode();
        listener.put("name", name + "_" + wildcard + "_" + port);
        listener.set("address", socketAddress(wildcard, port));
        ObjectNode manager = JSON.createObjectNode();
        manager.put("@type", "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                + ".HttpConnectionManager");
        manager.put("stat_prefix", name);
        manager.put("codec_type", "AUTO");
        ObjectNode host = manager.putObject("route_config").putArray("virtual_hosts").addObject();
        host.put("name", "backend");
        host.putArray("domains").add("*");
        ObjectNode route = host.putArray("routes").addObject();
        route.putObject("match").put("prefix", prefix);
        route.putObject("route").put("cluster", cluster);
        ObjectNode router = manager.putArray("http_filters").addObject();
        router.put("name", "envoy.filters.http.router");
        router.putObject("typed_config").put("@type",
                "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router");
        ObjectNode filter = listener.putArray("filter_chains").addObject().putArray("filters").addObject();
        filter.put("name", "envoy.filters.network.http_connection_manager");
        filter.set("typed_config", manager);
        return listener;
    }

    /**
     * The effective ProxyConfig as pilot-agent announces it (istio.mesh.v1alpha1.ProxyConfig in proto3 JSON):
     * istiod reads the status port and, for auto-registered WorkloadEntries, the readiness probe from it. No
     * readinessProbe: this agent sends no health reports, and istiod withholds endpoints of an entry whose probe it
     * was told about until one arrives.
     */
    static ObjectNode proxyConfig(EnvoySettings s) {
        ObjectNode config = JSON.createObjectNode();
        config.put("binaryPath", s.binary().toString());
        config.put("configPath", s.configDir().toString());
        config.put("serviceCluster", s.serviceCluster());
        config.put("drainDuration", protoDuration(s.drainTime()));
        config.put("parentShutdownDuration", protoDuration(s.parentShutdownTime()));
        config.put("terminationDrainDuration", protoDuration(s.terminationDrain()));
        config.put("discoveryAddress", s.discoveryAddress().toString());
        config.put("controlPlaneAuthPolicy", s.mutualTls() ? "MUTUAL_TLS" : "NONE");
        config.put("proxyAdminPort", s.adminPort());
        config.put("statusPort", s.agentStatusPort());
        config.put("concurrency", s.concurrency());
        config.put("interceptionMode", s.interceptionMode());
        return config;
    }

    /** google.protobuf.Duration's JSON form: seconds with an "s". */
    private static String protoDuration(java.time.Duration d) {
        return new java.math.BigDecimal(d.toNanos()).movePointLeft(9).stripTrailingZeros().toPlainString() + "s";
    }

    private static JsonNode text(String value) {
        return JSON.getNodeFactory().textNode(value);
    }

    private static void http2(ObjectNode cluster) {
        ObjectNode options = cluster.putObject("typed_extension_protocol_options")
                .putObject("envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
        options.put("@type", "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
        options.putObject("explicit_http_config").putObject("http2_protocol_options");
    }

    private static ObjectNode sdsSecret(String name) {
        ObjectNode secret = JSON.createObjectNode();
        secret.put("name", name);
        ObjectNode config = secret.putObject("sds_config");
        config.put("resource_api_version", "V3");
        config.set("api_config_source", grpcSource(SDS_CLUSTER));
        return secret;
    }

    private static ObjectNode grpcSource(String cluster) {
        ObjectNode source = JSON.createObjectNode();
        source.put("api_type", "GRPC");
        source.put("transport_api_version", "V3");
        source.put("set_node_on_first_message_only", true);
        source.putArray("grpc_services").addObject().putObject("envoy_grpc").put("cluster_name", cluster);
        return source;
    }

    private static ObjectNode loadAssignment(String cluster, ObjectNode address) {
        ObjectNode assignment = JSON.createObjectNode();
        assignment.put("cluster_name", cluster);
        assignment.putArray("endpoints").addObject().putArray("lb_endpoints").addObject().putObject("endpoint")
                .set("address", address);
        return assignment;
    }

    /**
     * The admin API's address: Envoy's {@code envoy.config.core.v3.Pipe} (path and mode; Envoy unlinks a stale
     * socket at the path, binds, then chmods it, and a hot restart's new epoch does the same, taking the path over),
     * or TCP on loopback.
     */
    private static ObjectNode adminAddress(AdminAddress admin) {
        if (admin.onTcp()) {
            return socketAddress("127.0.0.1", admin.port());
        }
        ObjectNode address = JSON.createObjectNode();
        address.putObject("pipe").put("path", admin.socket().orElseThrow().toString())
                .put("mode", AdminAddress.SOCKET_MODE);
        return address;
    }

    private static ObjectNode socketAddress(String host, int port) {
        ObjectNode address = JSON.createObjectNode();
        address.putObject("socket_address").put("address", host).put("port_value", port);
        return address;
    }
}
