package io.istiovm.agent.config;

import static io.istiovm.agent.config.ValueTypes.bool;
import static io.istiovm.agent.config.ValueTypes.choice;
import static io.istiovm.agent.config.ValueTypes.cidrList;
import static io.istiovm.agent.config.ValueTypes.duration;
import static io.istiovm.agent.config.ValueTypes.hostName;
import static io.istiovm.agent.config.ValueTypes.hostNameList;
import static io.istiovm.agent.config.ValueTypes.hostPort;
import static io.istiovm.agent.config.ValueTypes.integer;
import static io.istiovm.agent.config.ValueTypes.ipAddress;
import static io.istiovm.agent.config.ValueTypes.jsonObject;
import static io.istiovm.agent.config.ValueTypes.kubernetesName;
import static io.istiovm.agent.config.ValueTypes.oneOf;
import static io.istiovm.agent.config.ValueTypes.path;
import static io.istiovm.agent.config.ValueTypes.port;
import static io.istiovm.agent.config.ValueTypes.portList;
import static io.istiovm.agent.config.ValueTypes.ratio;
import static io.istiovm.agent.config.ValueTypes.text;
import static io.istiovm.agent.config.ValueTypes.token;
import static io.istiovm.agent.config.ValueTypes.unsigned32;
import static io.istiovm.agent.config.ValueTypes.user;
import static io.istiovm.agent.config.ValueTypes.words;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.istiovm.agent.config.ConfigKey.Group;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The registry: every key Istio's VM tooling knows (1.4 to 1.8+) and the agent's own, in one place.
 * Declaration order matters: a derived default may read only keys declared above it.
 */
public final class ConfigKeys {
    private static final List<ConfigKey<?>> ALL = new ArrayList<>();

    /** Keys whose name starts with this carry Envoy node metadata as strings ({@code ISTIO_META_FOO=bar}). */
    public static final String META_PREFIX = "ISTIO_META_";
    /** Keys whose name starts with this carry Envoy node metadata as JSON objects. */
    public static final String META_JSON_PREFIX = "ISTIO_METAJSON_";
    /** The value type of keys in the {@link #META_PREFIX} family that are not declared individually. */
    public static final ValueType<String> META_TYPE = text();
    /**
     * The value type of keys in the {@link #META_JSON_PREFIX} family: a JSON object of strings, because istiod
     * decodes LABELS, ANNOTATIONS and the rest into map[string]string and refuses the whole xDS stream
     * (InvalidArgument) when a value is a number, a boolean or an object.
     */
    public static final ValueType<ObjectNode> META_JSON_TYPE = new ValueType<>() {
        private final ValueType<ObjectNode> object = jsonObject();

        @Override
        public ObjectNode parse(String raw) throws InvalidValueException {
            ObjectNode map = object.parse(raw);
            for (Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> field : map.properties()) {
                if (!field.getValue().isTextual()) {
                    throw new InvalidValueException("value of \"" + field.getKey() + "\" is " + field.getValue()
                            + ", not a string: istiod reads these as map<string,string> and refuses the proxy "
                            + "(write \"" + field.getKey() + "\":\"" + field.getValue().asText() + "\")");
                }
            }
            return map;
        }

        @Override
        public String describe() {
            return "JSON object of strings";
        }

        @Override
        public String format(ObjectNode value) {
            return object.format(value);
        }
    };

    private static final Duration MAX_DURATION = Duration.ofDays(3650);

    // ---- File locations -------------------------------------------------------------------------------

    public static final ConfigKey<Path> ISTIO_SIDECAR_CONFIG = define(ConfigKey.builder("ISTIO_SIDECAR_CONFIG", path())
            .group(Group.LOCATION).since("1.4").environmentOnly()
            .defaultsTo("/var/lib/istio/envoy/sidecar.env")
            .meaning("Path of sidecar.env, read first. `--config-dir DIR` overrides it with DIR/sidecar.env."));

    public static final ConfigKey<Path> ISTIO_CLUSTER_CONFIG = define(ConfigKey.builder("ISTIO_CLUSTER_CONFIG", path())
            .group(Group.LOCATION).since("1.4").environmentOnly()
            .defaultsTo("/var/lib/istio/envoy/cluster.env")
            .meaning("Path of cluster.env, read second (its values win). `--config-dir DIR` overrides it with "
                    + "DIR/cluster.env."));

    // ---- Traffic capture ------------------------------------------------------------------------------

    public static final ConfigKey<CidrList> ISTIO_SERVICE_CIDR = define(ConfigKey.builder("ISTIO_SERVICE_CIDR",
                    cidrList(true))
            .group(Group.CAPTURE).since("1.4").defaultsTo("")
            .meaning("Outbound destinations (IPv4 and IPv6 CIDRs) redirected to Envoy; `*` = all; empty = no "
                    + "outbound capture."));

    public static final ConfigKey<CidrList> ISTIO_SERVICE_EXCLUDE_CIDR = define(ConfigKey.builder(
                    "ISTIO_SERVICE_EXCLUDE_CIDR", cidrList(false))
            .group(Group.CAPTURE).since("1.4").defaultsTo("")
            .meaning("Outbound destinations never redirected; checked before ISTIO_SERVICE_CIDR."));

    public static final ConfigKey<PortList> ISTIO_INBOUND_PORTS = define(ConfigKey.builder("ISTIO_INBOUND_PORTS",
                    portList(true))
            .group(Group.CAPTURE).since("1.4").defaultsTo("")
            .meaning("Inbound TCP ports redirected to Envoy; `*` = all (minus ISTIO_LOCAL_EXCLUDE_PORTS); empty = "
                    + "no inbound capture."));

    public static final ConfigKey<PortList> ISTIO_LOCAL_EXCLUDE_PORTS = define(ConfigKey.builder(
                    "ISTIO_LOCAL_EXCLUDE_PORTS", portList(false))
            .group(Group.CAPTURE).since("1.4").defaultsTo("")
            .misspelledAs("ISTIO_INBOUND_EXCLUDE_PORTS")
            .meaning("Inbound ports left alone when ISTIO_INBOUND_PORTS is `*`. Istio's sidecar.env misnamed it "
                    + "ISTIO_INBOUND_EXCLUDE_PORTS."));

    public static final ConfigKey<PortList> ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE = define(ConfigKey.builder(
                    "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", portList(false))
            .group(Group.CAPTURE).since("1.4").defaultsTo("")
            .meaning("Outbound destination ports never redirected."));

    public static final ConfigKey<String> ISTIO_INBOUND_INTERCEPTION_MODE = define(ConfigKey.builder(
                    "ISTIO_INBOUND_INTERCEPTION_MODE", choice("REDIRECT", "TPROXY"))
            .group(Group.CAPTURE).since("1.4").defaultsTo("REDIRECT")
            .raisesPrivileges("TPROXY gives Envoy the CAP_NET_ADMIN capability")
            .meaning("How inbound traffic reaches Envoy: REDIRECT (NAT) or TPROXY (keeps the source address; "
                    + "Envoy then needs CAP_NET_ADMIN)."));

    public static final ConfigKey<Long> ISTIO_INBOUND_TPROXY_MARK = define(ConfigKey.builder(
                    "ISTIO_INBOUND_TPROXY_MARK", unsigned32())
            .group(Group.CAPTURE).since("1.4").defaultsTo("1337")
            .raisesPrivileges("sets a routing rule the agent installs as root")
            .meaning("Firewall mark of TPROXY-diverted packets."));

    public static final ConfigKey<Long> ISTIO_INBOUND_TPROXY_ROUTE_TABLE = define(ConfigKey.builder(
                    "ISTIO_INBOUND_TPROXY_ROUTE_TABLE", unsigned32())
            .group(Group.CAPTURE).since("1.4").defaultsTo("133")
            .raisesPrivileges("names the routing table the agent writes as root")
            .meaning("Routing table that delivers TPROXY-marked packets locally."));

    public static final ConfigKey<Integer> ENVOY_PORT = define(ConfigKey.builder("ENVOY_PORT", port())
            .group(Group.CAPTURE).since("1.4").defaultsTo("15001")
            .meaning("Envoy's outbound capture listener."));

    public static final ConfigKey<Integer> INBOUND_CAPTURE_PORT = define(ConfigKey.builder("INBOUND_CAPTURE_PORT",
                    port())
            .group(Group.CAPTURE).since("1.4").defaultsTo("15006")
            .meaning("Envoy's inbound capture listener."));

    public static final ConfigKey<UserRef> ENVOY_USER = define(ConfigKey.builder("ENVOY_USER", user())
            .group(Group.CAPTURE).since("1.4").defaultsTo("istio-proxy")
            .raisesPrivileges("names the user Envoy runs as")
            .meaning("User (name or uid) Envoy runs as; its traffic is never captured. Uid and gid 1337 when no "
                    + "such user exists, as Istio does."));

    public static final ConfigKey<Boolean> ISTIO_CUSTOM_IP_TABLES = define(ConfigKey.builder("ISTIO_CUSTOM_IP_TABLES",
                    bool())
            .group(Group.CAPTURE).since("1.4").defaultsTo("false")
            .meaning("`true` = the operator manages netfilter; the agent installs no capture rules."));

    public static final ConfigKey<Boolean> DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK = define(ConfigKey.builder(
                    "DISABLE_REDIRECTION_ON_LOCAL_LOOPBACK", bool())
            .group(Group.CAPTURE).since("1.4").defaultsTo("false")
            .meaning("`true` = loopback traffic to non-127.0.0.1 addresses is not sent back into Envoy's inbound "
                    + "path."));

    // Istio 1.8's istio-iptables read its flags from the environment too (viper, "-" as "_"): these are the ones a
    // VM's cluster.env may carry. KUBE_VIRT_INTERFACES is refused when set (ConfigLoader's cross-checks say why).

    public static final ConfigKey<PortList> ISTIO_OUTBOUND_PORTS = define(ConfigKey.builder("ISTIO_OUTBOUND_PORTS",
                    portList(false))
            .group(Group.CAPTURE).since("1.8").defaultsTo("")
            .meaning("Outbound destination ports always redirected to Envoy, whatever the destination address "
                    + "(after ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE and ISTIO_SERVICE_EXCLUDE_CIDR), as Istio 1.8's "
                    + "istio-iptables does."));

    public static final ConfigKey<List<String>> ISTIO_EXCLUDE_INTERFACES = define(ConfigKey.builder(
                    "ISTIO_EXCLUDE_INTERFACES", interfaceList())
            .group(Group.CAPTURE).since("1.9").defaultsTo("")
            .meaning("Network interfaces whose traffic is never captured: nothing arriving on them (forwarded "
                    + "container traffic from docker0, virbr0, wg0) goes to Envoy, nor anything the host sends out "
                    + "through them."));

    public static final ConfigKey<List<String>> KUBE_VIRT_INTERFACES = define(ConfigKey.builder(
                    "KUBE_VIRT_INTERFACES", interfaceList())
            .group(Group.CAPTURE).since("1.8").defaultsTo("")
            .meaning("Istio 1.8's KubeVirt interfaces (a guest VM's traffic sent to Envoy as outbound); refused when "
                    + "set: a VM has no such guest. ISTIO_EXCLUDE_INTERFACES keeps an interface out of capture."));

    public static final ConfigKey<Long> PROXY_UID = define(ConfigKey.builder("PROXY_UID", proxyId("uid"))
            .group(Group.CAPTURE).since("1.8")
            .meaning("Uid whose traffic is never captured, instead of ENVOY_USER's (Istio 1.8's istio-iptables); "
                    + "must be the uid Envoy runs as."));

    public static final ConfigKey<Long> PROXY_GID = define(ConfigKey.builder("PROXY_GID", proxyId("gid"))
            .group(Group.CAPTURE).since("1.8")
            .derivedDefault("PROXY_UID", c -> c.raw(PROXY_UID))
            .meaning("Gid whose traffic is never captured, instead of ENVOY_USER's group; PROXY_UID when unset, as "
                    + "in Istio 1.8."));

    public static final ConfigKey<Boolean> ISTIO_META_DNS_CAPTURE = define(ConfigKey.builder("ISTIO_META_DNS_CAPTURE",
                    bool())
            .group(Group.CAPTURE).since("1.8").defaultsTo("false")
            .compatOnly("Istio's DNS proxy lives in pilot-agent; this agent serves names through /etc/hosts.")
            .meaning("Capture DNS to the agent's DNS proxy (Istio 1.8+)."));

    public static final ConfigKey<HostPort> DNS_PROXY_ADDR = define(ConfigKey.builder("DNS_PROXY_ADDR", hostPort())
            .group(Group.CAPTURE).since("1.8").defaultsTo("localhost:15053")
            .compatOnly("No DNS proxy in this agent (see ISTIO_META_DNS_CAPTURE).")
            .meaning("Address of Istio's DNS proxy."));

    // ---- Control plane --------------------------------------------------------------------------------

    public static final ConfigKey<String> ISTIO_SYSTEM_NAMESPACE = define(ConfigKey.builder("ISTIO_SYSTEM_NAMESPACE",
                    kubernetesName(false))
            .group(Group.CONTROL_PLANE).since("1.4").defaultsTo("istio-system")
            .meaning("Namespace of the control plane; part of its host names and SPIFFE identities."));

    public static final ConfigKey<String> ISTIO_CP_AUTH = define(ConfigKey.builder("ISTIO_CP_AUTH",
                    choice("MUTUAL_TLS", "NONE"))
            .group(Group.CONTROL_PLANE).since("1.4").defaultsTo("MUTUAL_TLS")
            .meaning("Control-plane authentication: MUTUAL_TLS or NONE (plaintext, for tests only)."));

    public static final ConfigKey<Integer> ISTIO_PILOT_PORT = define(ConfigKey.builder("ISTIO_PILOT_PORT", port())
            .group(Group.CONTROL_PLANE).since("1.4").defaultsTo("15012")
            .meaning("Discovery port: 15012 istiod (1.5+), 15011 Pilot mTLS (1.4), 15010 plaintext."));

    public static final ConfigKey<HostPort> PILOT_ADDRESS = define(ConfigKey.builder("PILOT_ADDRESS", hostPort())
            .group(Group.CONTROL_PLANE).since("1.4")
            .derivedDefault("istiod.<ISTIO_SYSTEM_NAMESPACE>.svc:<ISTIO_PILOT_PORT>",
                    c -> "istiod." + c.raw(ISTIO_SYSTEM_NAMESPACE) + ".svc:" + c.raw(ISTIO_PILOT_PORT))
            .meaning("Discovery (xDS) address, host:port."));

    public static final ConfigKey<HostPort> ISTIO_CA = define(ConfigKey.builder("ISTIO_CA", hostPort())
            .group(Group.CONTROL_PLANE).since("1.5")
            .meaning("Istio 1.5's name for the CA address; used when CA_ADDR is not set."));

    public static final ConfigKey<HostPort> CA_ADDR = define(ConfigKey.builder("CA_ADDR", hostPort())
            .group(Group.CONTROL_PLANE).since("1.5")
            .derivedDefault("ISTIO_CA, else PILOT_ADDRESS", c -> c.raw(ISTIO_CA).isEmpty()
                    ? c.raw(PILOT_ADDRESS) : c.raw(ISTIO_CA))
            .meaning("Certificate authority address for IstioCertificateService, host:port."));

    public static final ConfigKey<HostPort> CITADEL_ADDRESS = define(ConfigKey.builder("CITADEL_ADDRESS", hostPort())
            .group(Group.CONTROL_PLANE).since("1.4").defaultsTo("istio-citadel:8060")
            .meaning("Citadel address for the 1.4 IstioCAService/HandleCSR protocol (VM_AGENT_CA_PROTOCOL=HandleCSR)."));

    public static final ConfigKey<String> ISTIOD_SAN = define(ConfigKey.builder("ISTIOD_SAN", hostName())
            .group(Group.CONTROL_PLANE).since("1.8")
            .derivedDefault("istiod.<ISTIO_SYSTEM_NAMESPACE>.svc",
                    c -> "istiod." + c.raw(ISTIO_SYSTEM_NAMESPACE) + ".svc")
            .meaning("DNS name istiod's serving certificate must carry."));

    public static final ConfigKey<String> PILOT_CERT_PROVIDER = define(ConfigKey.builder("PILOT_CERT_PROVIDER",
                    choice("istiod", "kubernetes", "custom", "none"))
            .group(Group.CONTROL_PLANE).since("1.5").defaultsTo("istiod")
            .compatOnly("The control plane's certificate is always verified against root-cert.pem.")
            .meaning("Who signs istiod's serving certificate."));

    public static final ConfigKey<Path> XDS_ROOT_CA = define(ConfigKey.builder("XDS_ROOT_CA", path())
            .group(Group.CONTROL_PLANE).since("1.8")
            .compatOnly("root-cert.pem under PROV_CERT is the only trust anchor.")
            .meaning("Root certificate that verifies istiod's xDS endpoint."));

    public static final ConfigKey<Path> CA_ROOT_CA = define(ConfigKey.builder("CA_ROOT_CA", path())
            .group(Group.CONTROL_PLANE).since("1.8")
            .compatOnly("root-cert.pem under PROV_CERT is the only trust anchor.")
            .meaning("Root certificate that verifies the CA endpoint."));

    public static final ConfigKey<String> PROXY_CONFIG = define(ConfigKey.builder("PROXY_CONFIG", text())
            .group(Group.CONTROL_PLANE).since("1.8")
            .compatOnly("ProxyConfig YAML is not read; set the individual keys instead.")
            .meaning("ProxyConfig overrides as YAML."));

    // ---- Workload ------------------------------------------------------------------------------------

    public static final ConfigKey<InetAddress> ISTIO_SVC_IP = define(ConfigKey.builder("ISTIO_SVC_IP", ipAddress())
            .group(Group.WORKLOAD).since("1.4")
            .derivedDefault("first global address of the host (hostname --all-ip-addresses)",
                    c -> c.host().addresses().stream().findFirst().map(IpAddresses::format).orElse(""))
            .meaning("The workload's IP (Envoy's INSTANCE_IP), as registered in the mesh."));

    public static final ConfigKey<String> ISTIO_NAMESPACE = define(ConfigKey.builder("ISTIO_NAMESPACE",
                    kubernetesName(false))
            .group(Group.WORKLOAD).since("1.4")
            .derivedDefault("the certificate's namespace (its SPIFFE id), else default", c -> "")
            .meaning("Namespace the workload belongs to (POD_NAMESPACE); a set value the certificate disagrees "
                    + "with is an error."));

    public static final ConfigKey<String> POD_NAMESPACE = define(ConfigKey.builder("POD_NAMESPACE",
                    kubernetesName(false))
            .group(Group.WORKLOAD).since("1.8")
            .derivedDefault("ISTIO_NAMESPACE", c -> c.raw(ISTIO_NAMESPACE))
            .meaning("Workload namespace as istioctl's proxyMetadata names it; must agree with ISTIO_NAMESPACE."));

    public static final ConfigKey<String> ISTIO_SERVICE = define(ConfigKey.builder("ISTIO_SERVICE", token())
            .group(Group.WORKLOAD).since("1.4").defaultsTo("rawvm")
            .meaning("Service cluster name (Envoy `--service-cluster`); istioctl writes `<group>.<namespace>`."));

    public static final ConfigKey<String> POD_NAME = define(ConfigKey.builder("POD_NAME", hostName())
            .group(Group.WORKLOAD).since("1.4")
            .derivedDefault("short host name (hostname -s)", c -> c.host().shortHostName().orElse(""))
            .meaning("Proxy name, part of Envoy's node ID."));

    public static final ConfigKey<String> SERVICE_ACCOUNT = define(ConfigKey.builder("SERVICE_ACCOUNT",
                    kubernetesName(true))
            .group(Group.WORKLOAD).since("1.8")
            .derivedDefault("the certificate's service account (its SPIFFE id), else default", c -> "")
            .meaning("Service account of the workload identity (`spiffe://<TRUST_DOMAIN>/ns/<ns>/sa/<sa>`); a set "
                    + "value the certificate disagrees with is an error."));

    public static final ConfigKey<String> TRUST_DOMAIN = define(ConfigKey.builder("TRUST_DOMAIN", hostName())
            .group(Group.WORKLOAD).since("1.5").defaultsTo("cluster.local")
            .meaning("SPIFFE trust domain of the mesh."));

    public static final ConfigKey<String> CANONICAL_SERVICE = define(ConfigKey.builder("CANONICAL_SERVICE", token())
            .group(Group.WORKLOAD).since("1.8")
            .derivedDefault("ISTIO_SERVICE up to its first dot", c -> {
                String service = c.raw(ISTIO_SERVICE);
                int dot = service.indexOf('.');
                return dot > 0 ? service.substring(0, dot) : service;
            })
            .meaning("Canonical service name in telemetry (label service.istio.io/canonical-name)."));

    public static final ConfigKey<String> CANONICAL_REVISION = define(ConfigKey.builder("CANONICAL_REVISION", token())
            .group(Group.WORKLOAD).since("1.8").defaultsTo("latest")
            .meaning("Canonical revision in telemetry (label service.istio.io/canonical-revision)."));

    public static final ConfigKey<String> ISTIO_META_CLUSTER_ID = define(ConfigKey.builder("ISTIO_META_CLUSTER_ID",
                    token())
            .group(Group.WORKLOAD).since("1.8").defaultsTo("Kubernetes")
            .meaning("Cluster the workload is registered in; sent as the `ClusterID` CA metadata."));

    public static final ConfigKey<String> ISTIO_META_NETWORK = define(ConfigKey.builder("ISTIO_META_NETWORK", token())
            .group(Group.WORKLOAD).since("1.8")
            .meaning("Network of the VM (multi-network meshes reach it through its gateway)."));

    public static final ConfigKey<String> ISTIO_META_MESH_ID = define(ConfigKey.builder("ISTIO_META_MESH_ID", token())
            .group(Group.WORKLOAD).since("1.8")
            .meaning("Mesh ID in node metadata."));

    public static final ConfigKey<String> ISTIO_META_WORKLOAD_NAME = define(ConfigKey.builder(
                    "ISTIO_META_WORKLOAD_NAME", token())
            .group(Group.WORKLOAD).since("1.8")
            .meaning("Workload name in node metadata and telemetry."));

    public static final ConfigKey<String> ISTIO_META_AUTO_REGISTER_GROUP = define(ConfigKey.builder(
                    "ISTIO_META_AUTO_REGISTER_GROUP", kubernetesName(true))
            .group(Group.WORKLOAD).since("1.8")
            .meaning("WorkloadGroup for auto-registration: istiod creates the WorkloadEntry on connect."));

    public static final ConfigKey<String> ISTIO_META_ISTIO_VERSION = define(ConfigKey.builder(
                    "ISTIO_META_ISTIO_VERSION", token())
            .group(Group.WORKLOAD).since("1.4").defaultsTo("1.8.0")
            .meaning("Istio version announced in node metadata (ISTIO_VERSION; istiod matches EnvoyFilter "
                    + "`proxyVersion` against it): set it to the istio-proxy build's version. 1.4's script hard-coded "
                    + "a wrong one."));

    public static final ConfigKey<List<String>> ISTIO_AGENT_FLAGS = define(ConfigKey.builder("ISTIO_AGENT_FLAGS",
                    words())
            .group(Group.WORKLOAD).since("1.4").defaultsTo("")
            .compatOnly("There is no pilot-agent to pass them to; every setting has a key of its own here.")
            .meaning("Extra flags for `pilot-agent proxy`, split on spaces."));

    // ---- Certificates --------------------------------------------------------------------------------

    public static final ConfigKey<Path> PROV_CERT = define(ConfigKey.builder("PROV_CERT", path())
            .group(Group.CERTIFICATES).since("1.5").defaultsTo("/etc/certs")
            .raisesPrivileges("names the directory the agent reads the identity key from (and writes to) as root")
            .meaning("Directory of the provisioning identity (root-cert.pem, cert-chain.pem, key.pem) used to "
                    + "authenticate to the CA."));

    public static final ConfigKey<Path> OUTPUT_CERTS = define(ConfigKey.builder("OUTPUT_CERTS", path())
            .group(Group.CERTIFICATES).since("1.5")
            .derivedDefault("PROV_CERT", c -> c.raw(PROV_CERT))
            .raisesPrivileges("names a directory the agent writes as root")
            .meaning("Directory rotated certificates are written to."));

    public static final ConfigKey<Path> CERTS_DIR = define(ConfigKey.builder("CERTS_DIR", path())
            .group(Group.CERTIFICATES).since("1.4").defaultsTo("/etc/certs")
            .compatOnly("The 1.4 node agent's name; use PROV_CERT and OUTPUT_CERTS.")
            .meaning("Certificate directory of the 1.4 node agent."));

    public static final ConfigKey<Duration> SECRET_TTL = define(ConfigKey.builder("SECRET_TTL",
                    duration(Duration.ofMinutes(10), Duration.ofHours(2160)))
            .group(Group.CERTIFICATES).since("1.5").defaultsTo("24h")
            .meaning("Lifetime requested for workload certificates (10m to 2160h; Istio rejects more)."));

    public static final ConfigKey<Double> SECRET_GRACE_PERIOD_RATIO = define(ConfigKey.builder(
                    "SECRET_GRACE_PERIOD_RATIO", ratio())
            .group(Group.CERTIFICATES).since("1.8").defaultsTo("0.5")
            .meaning("Fraction of the lifetime left when rotation starts."));

    public static final ConfigKey<Double> SECRET_GRACE_PERIOD_RATIO_JITTER = define(ConfigKey.builder(
                    "SECRET_GRACE_PERIOD_RATIO_JITTER", ratio())
            .group(Group.CERTIFICATES).since("1.24").defaultsTo("0.01")
            .meaning("Random spread added to the grace ratio so that many VMs do not renew at once."));

    public static final ConfigKey<Duration> SECRET_GRACE_DURATION = define(ConfigKey.builder("SECRET_GRACE_DURATION",
                    duration(Duration.ZERO, MAX_DURATION))
            .group(Group.CERTIFICATES).since("1.5")
            .compatOnly("Replaced by SECRET_GRACE_PERIOD_RATIO.")
            .meaning("Time before expiry when 1.5 renewed (TTL/2)."));

    public static final ConfigKey<Duration> SECRET_JOB_RUN_INTERVAL = define(ConfigKey.builder(
                    "SECRET_JOB_RUN_INTERVAL", duration(Duration.ZERO, MAX_DURATION))
            .group(Group.CERTIFICATES).since("1.5")
            .compatOnly("Rotation is scheduled from the certificate's own dates, not polled.")
            .meaning("How often 1.5 checked for expiring secrets."));

    public static final ConfigKey<Integer> INITIAL_BACKOFF_MSEC = define(ConfigKey.builder("INITIAL_BACKOFF_MSEC",
                    integer(0, 3_600_000))
            .group(Group.CERTIFICATES).since("1.5").defaultsTo("0")
            .compatOnly("Retry backoff is the agent's own (exponential with jitter, never giving up).")
            .meaning("Initial CSR retry backoff of 1.5, milliseconds."));

    public static final ConfigKey<Boolean> PKCS8_KEY = define(ConfigKey.builder("PKCS8_KEY", bool())
            .group(Group.CERTIFICATES).since("1.5").defaultsTo("false")
            .meaning("Write new private keys as PKCS#8 (`BEGIN PRIVATE KEY`) instead of the traditional form."));

    public static final ConfigKey<String> ECC_SIGNATURE_ALGORITHM = define(ConfigKey.builder(
                    "ECC_SIGNATURE_ALGORITHM", choice("ECDSA", "RSA"))
            .group(Group.CERTIFICATES).since("1.8").defaultsTo("ECDSA")
            .meaning("Key type of new workload keys: ECDSA (P-256) or RSA (WORKLOAD_RSA_KEY_SIZE bits). Istio "
                    + "defaults to RSA; the agent defaults to ECDSA, which is smaller and faster."));

    public static final ConfigKey<Integer> WORKLOAD_RSA_KEY_SIZE = define(ConfigKey.builder("WORKLOAD_RSA_KEY_SIZE",
                    oneOf(2048, 3072, 4096))
            .group(Group.CERTIFICATES).since("1.8").defaultsTo("2048")
            .meaning("RSA key size when ECC_SIGNATURE_ALGORITHM=RSA."));

    // ---- Envoy ---------------------------------------------------------------------------------------

    public static final ConfigKey<Integer> ENVOY_STATUS_PORT = define(ConfigKey.builder("ENVOY_STATUS_PORT", port())
            .group(Group.ENVOY).since("1.8").defaultsTo("15021")
            .meaning("Envoy listener that answers `/healthz/ready` for the mesh."));

    public static final ConfigKey<Integer> ENVOY_PROMETHEUS_PORT = define(ConfigKey.builder("ENVOY_PROMETHEUS_PORT",
                    port())
            .group(Group.ENVOY).since("1.8").defaultsTo("15090")
            .meaning("Envoy listener that serves `/stats/prometheus`."));

    public static final ConfigKey<Duration> MINIMUM_DRAIN_DURATION = define(ConfigKey.builder(
                    "MINIMUM_DRAIN_DURATION", duration(Duration.ZERO, Duration.ofHours(1)))
            .group(Group.ENVOY).since("1.8").defaultsTo("5s")
            .meaning("Shortest time Envoy drains on stop before it may be terminated."));

    public static final ConfigKey<Duration> TERMINATION_DRAIN_DURATION = define(ConfigKey.builder(
                    "TERMINATION_DRAIN_DURATION", duration(Duration.ZERO, Duration.ofHours(1)))
            .group(Group.ENVOY).since("1.4").defaultsTo("5s")
            .meaning("Drain period on stop (1.4 called it TERMINATION_DRAIN_DURATION_SECONDS)."));

    public static final ConfigKey<Path> ISTIO_BOOTSTRAP_OVERRIDE = define(ConfigKey.builder("ISTIO_BOOTSTRAP_OVERRIDE",
                    path())
            .group(Group.ENVOY).since("1.4")
            .raisesPrivileges("names a file the agent reads as root into Envoy's bootstrap")
            .meaning("File of bootstrap fields merged over the generated bootstrap (Envoy `--config-yaml`)."));

    public static final ConfigKey<Path> ISTIO_BIN_BASE = define(ConfigKey.builder("ISTIO_BIN_BASE", path())
            .group(Group.ENVOY).since("1.4").defaultsTo("/usr/local/bin")
            .compatOnly("The Envoy binary is set with VM_AGENT_ENVOY_BINARY.")
            .meaning("Directory of Istio's binaries."));

    public static final ConfigKey<Path> ISTIO_LOG_DIR = define(ConfigKey.builder("ISTIO_LOG_DIR", path())
            .group(Group.ENVOY).since("1.4").defaultsTo("/var/log/istio")
            .compatOnly("The agent and Envoy log to journald.")
            .meaning("Directory of Istio's log files."));

    public static final ConfigKey<UserRef> EXEC_USER = define(ConfigKey.builder("EXEC_USER", user())
            .group(Group.ENVOY).since("1.4").defaultsTo("istio-proxy")
            .compatOnly("The systemd unit decides the agent's user; Envoy runs as ENVOY_USER.")
            .meaning("User istio-start.sh ran pilot-agent as."));

    // ---- The agent's own keys ------------------------------------------------------------------------

    public static final ConfigKey<InetAddress> VM_AGENT_GATEWAY_ADDRESS = define(ConfigKey.builder(
                    "VM_AGENT_GATEWAY_ADDRESS", ipAddress())
            .group(Group.AGENT).since("agent")
            .raisesPrivileges("decides an address in /etc/hosts, through which every user of the host resolves names")
            .meaning("IP of the mesh's ingress gateway. The agent maps the control-plane names (istio-citadel, "
                    + "istio-pilot, istio-pilot.<ns>, istiod.<ns>.svc) to it in /etc/hosts, replacing the line the "
                    + "multi-network guide has you add by hand."));

    public static final ConfigKey<List<String>> VM_AGENT_GATEWAY_NAMES = define(ConfigKey.builder(
                    "VM_AGENT_GATEWAY_NAMES", hostNameList())
            .group(Group.AGENT).since("agent").defaultsTo("")
            .raisesPrivileges("decides names in /etc/hosts, through which every user of the host resolves names")
            .meaning("Extra host names (comma- or space-separated) mapped to VM_AGENT_GATEWAY_ADDRESS."));

    public static final ConfigKey<String> VM_AGENT_CA_PROTOCOL = define(ConfigKey.builder("VM_AGENT_CA_PROTOCOL",
                    choice("auto", "CreateCertificate", "HandleCSR"))
            .group(Group.AGENT).since("agent").defaultsTo("auto")
            .meaning("CA protocol: `auto` tries CreateCertificate at CA_ADDR, then HandleCSR at CITADEL_ADDRESS when "
                    + "the first is unreachable or answers UNIMPLEMENTED, and keeps using the one that issued; "
                    + "CreateCertificate (IstioCertificateService, Istio 1.5+, at CA_ADDR) or HandleCSR "
                    + "(IstioCAService, Istio 1.4 Citadel, at CITADEL_ADDRESS) forces one."));

    public static final ConfigKey<Duration> VM_AGENT_CAPTURE_VERIFY_INTERVAL = define(ConfigKey.builder(
                    "VM_AGENT_CAPTURE_VERIFY_INTERVAL", duration(Duration.ofSeconds(1), Duration.ofHours(24)))
            .group(Group.AGENT).since("agent").defaultsTo("30s")
            .meaning("How often the running agent re-reads netfilter and repairs drift in its capture rules."));

    public static final ConfigKey<Boolean> VM_AGENT_CAPTURE_FAIL_CLOSED = define(ConfigKey.builder(
                    "VM_AGENT_CAPTURE_FAIL_CLOSED", bool())
            .group(Group.AGENT).since("agent").defaultsTo("false")
            .meaning("`false`: capture rules go in only once Envoy is LIVE, so a start or restart never refuses a "
                    + "connection. `true` (fail-closed, as Istio's start script): rules go in before Envoy starts and "
                    + "come out after it stops; connections are refused while Envoy is not listening, but none "
                    + "bypasses it."));

    public static final ConfigKey<Integer> VM_AGENT_STATUS_PORT = define(ConfigKey.builder("VM_AGENT_STATUS_PORT",
                    port())
            .group(Group.AGENT).since("agent").defaultsTo("15020")
            .meaning("Port on 127.0.0.1 of the agent's status server: `/healthz/ready` (what Envoy's "
                    + "ENVOY_STATUS_PORT listener forwards to), `/healthz/live`, `/stats/prometheus` (the agent's "
                    + "metrics and Envoy's) and `/debug/status`. Always on: Envoy's readiness depends on it. "
                    + "Read-only, and readable by every local user."));

    public static final ConfigKey<Path> VM_AGENT_ENVOY_BINARY = define(ConfigKey.builder("VM_AGENT_ENVOY_BINARY",
                    path())
            .group(Group.AGENT).since("agent").defaultsTo("/usr/local/bin/envoy")
            .raisesPrivileges("names the program the agent starts")
            .meaning("The Envoy executable the agent supervises; when it does not exist and the default is in effect, /usr/bin/envoy is used."));

    public static final ConfigKey<Integer> VM_AGENT_ENVOY_ADMIN_PORT = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_ADMIN_PORT", port())
            .group(Group.AGENT).since("agent").defaultsTo("15000")
            .meaning("Envoy's admin port on 127.0.0.1, used only with VM_AGENT_ENVOY_ADMIN_TCP=true."));

    public static final ConfigKey<Boolean> VM_AGENT_ENVOY_ADMIN_TCP = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_ADMIN_TCP", bool())
            .group(Group.AGENT).since("agent").defaultsTo("false")
            .raisesPrivileges("opens Envoy's admin API to every local user")
            .meaning("false: Envoy's admin API is the unix socket `envoy-admin/socket/admin.sock` beside the SDS "
                    + "socket's directory (0660, only root and ENVOY_USER's group can enter its directory; query it "
                    + "with `istio-vm-agent envoy admin PATH`); true: 127.0.0.1:VM_AGENT_ENVOY_ADMIN_PORT, which any "
                    + "local user can reach (`/quitquitquit`, drain)."));

    public static final ConfigKey<Path> VM_AGENT_SDS_SOCKET = define(ConfigKey.builder("VM_AGENT_SDS_SOCKET", path())
            .group(Group.AGENT).since("agent").defaultsTo("/var/run/secrets/workload-spiffe-uds/socket")
            .raisesPrivileges("names a path the agent creates as root")
            .meaning("Unix socket of the agent's SDS server (Envoy's `sds-grpc` cluster); mode 0660, group of "
                    + "ENVOY_USER."));

    public static final ConfigKey<List<String>> VM_AGENT_SDS_FILE_DIRS = define(ConfigKey.builder(
                    "VM_AGENT_SDS_FILE_DIRS", words())
            .group(Group.AGENT).since("agent")
            .defaultsTo("/etc/certs /etc/istio /var/run/secrets /etc/ssl/certs /etc/pki/tls/certs /etc/pki/ca-trust")
            .raisesPrivileges("names directories whose files the agent reads as root and hands to Envoy")
            .meaning("Directories (absolute, space-separated) whose files SDS serves to Envoy for `file-root:PATH` "
                    + "and `file-cert:CERT~KEY` names; a path elsewhere is refused."));

    public static final ConfigKey<Path> VM_AGENT_ENVOY_CONFIG_DIR = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_CONFIG_DIR", path())
            .group(Group.AGENT).since("agent").defaultsTo("/etc/istio/proxy")
            .raisesPrivileges("names a directory the agent writes as root")
            .meaning("Directory of the generated bootstraps, one per epoch (`envoy-rev<N>.json`)."));

    public static final ConfigKey<Path> VM_AGENT_ENVOY_SHM_DIR = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_SHM_DIR", path())
            .group(Group.AGENT).since("agent").defaultsTo("/dev/shm")
            .raisesPrivileges("names a directory the agent deletes files in as root")
            .meaning("Where Envoy keeps its hot-restart shared memory; stale `envoy_shared_memory_*` files are "
                    + "removed before a first epoch starts."));

    public static final ConfigKey<Integer> VM_AGENT_ENVOY_CONCURRENCY = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_CONCURRENCY", integer(0, 1024))
            .group(Group.AGENT).since("agent").defaultsTo("0")
            .meaning("Envoy worker threads (`--concurrency`); 0 = not passed, Envoy uses every core."));

    public static final ConfigKey<String> VM_AGENT_ENVOY_LOG_LEVEL = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_LOG_LEVEL", choice("trace", "debug", "info", "warning", "error", "critical", "off"))
            .group(Group.AGENT).since("agent").defaultsTo("warning")
            .meaning("Envoy's log level (`-l`)."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_DRAIN_TIME = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_DRAIN_TIME", duration(Duration.ofSeconds(1), Duration.ofHours(1)))
            .group(Group.AGENT).since("agent").defaultsTo("45s")
            .meaning("Envoy's `--drain-time-s`: how long a hot-restart parent drains its listeners."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_PARENT_SHUTDOWN_TIME", duration(Duration.ofSeconds(1), Duration.ofHours(1)))
            .group(Group.AGENT).since("agent").defaultsTo("60s")
            .meaning("Envoy's `--parent-shutdown-time-s`: when a hot-restart parent is retired."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_RESTART_BACKOFF = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_RESTART_BACKOFF", duration(Duration.ofMillis(1), Duration.ofMinutes(10)))
            .group(Group.AGENT).since("agent").defaultsTo("200ms")
            .meaning("Delay before the second restart of a crashed Envoy (the first is immediate); doubles per "
                    + "crash."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_RESTART_BACKOFF_MAX = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_RESTART_BACKOFF_MAX", duration(Duration.ofMillis(1), Duration.ofHours(1)))
            .group(Group.AGENT).since("agent").defaultsTo("30s")
            .meaning("Cap of the crash-restart delay."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_STABLE_PERIOD = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_STABLE_PERIOD", duration(Duration.ofMillis(1), Duration.ofHours(24)))
            .group(Group.AGENT).since("agent").defaultsTo("2m")
            .meaning("An Envoy that ran this long before exiting counts as stable: the backoff starts over."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_LIVE_TIMEOUT = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_LIVE_TIMEOUT", duration(Duration.ofMillis(100), Duration.ofHours(1)))
            .group(Group.AGENT).since("agent").defaultsTo("20s")
            .meaning("How long a hot restart waits for the running epoch to be LIVE before starting the next."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_STOP_TIMEOUT = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_STOP_TIMEOUT", duration(Duration.ofMillis(100), Duration.ofMinutes(10)))
            .group(Group.AGENT).since("agent").defaultsTo("10s")
            .meaning("After SIGTERM, how long Envoy may take to exit before SIGKILL."));

    public static final ConfigKey<Duration> VM_AGENT_ENVOY_POLL_INTERVAL = define(ConfigKey.builder(
                    "VM_AGENT_ENVOY_POLL_INTERVAL", duration(Duration.ofMillis(10), Duration.ofMinutes(1)))
            .group(Group.AGENT).since("agent").defaultsTo("1s")
            .meaning("How often Envoy's admin `/server_info` is polled while Envoy starts, hot-restarts or is "
                    + "replaced, and drained connections counted on stop; a LIVE Envoy with nothing in progress is "
                    + "asked every tenth interval only (its exit is seen at once), so an idle agent stays idle."));

    public static final ConfigKey<Path> VM_AGENT_HOSTS_FILE = define(ConfigKey.builder("VM_AGENT_HOSTS_FILE", path())
            .group(Group.AGENT).since("agent").defaultsTo("/etc/hosts")
            .raisesPrivileges("names the file the agent rewrites as root")
            .meaning("The hosts file whose marked block the agent owns (names from VM_AGENT_GATEWAY_ADDRESS, the "
                    + "`hosts` file and `hosts.d/` in the configuration directory)."));

    public static final ConfigKey<Duration> VM_AGENT_HOSTS_VERIFY_INTERVAL = define(ConfigKey.builder(
                    "VM_AGENT_HOSTS_VERIFY_INTERVAL", duration(Duration.ofSeconds(1), Duration.ofHours(24)))
            .group(Group.AGENT).since("agent").defaultsTo("30s")
            .meaning("How often the running agent re-reads the hosts file and its sources and repairs drift; "
                    + "changes seen through inotify are applied at once."));

    // ---- Traffic capture (the agent's own keys) --------------------------------------------------------

    public static final ConfigKey<Path> VM_AGENT_SSHD_CONFIG = define(ConfigKey.builder("VM_AGENT_SSHD_CONFIG",
                    path())
            .group(Group.AGENT).since("agent").defaultsTo("/etc/ssh/sshd_config")
            .raisesPrivileges("names a file the agent reads as root")
            .meaning("sshd's configuration, read (with its Include files) for the SSH ports that are never "
                    + "captured inbound; port 22 when it is missing or names no Port."));

    public static final ConfigKey<CidrList> VM_AGENT_GLOBAL_VIP_CIDR = define(ConfigKey.builder(
                    "VM_AGENT_GLOBAL_VIP_CIDR", cidrList(false))
            .group(Group.AGENT).since("agent").defaultsTo("127.255.0.0/16")
            .meaning("Range of the VIP addresses the agent gives `*.global` names in /etc/hosts; outbound "
                    + "connections to it are captured to ENVOY_PORT whenever outbound capture is on."));

    public static final ConfigKey<UserRef> VM_AGENT_GROUP = define(ConfigKey.builder("VM_AGENT_GROUP", user())
            .group(Group.AGENT).since("agent").defaultsTo("istio-vm-agent")
            .raisesPrivileges("names the group whose traffic is never captured")
            .meaning("Group (name or gid) the agent runs as; its own connections (CA, control plane) are never "
                    + "captured, while other root-owned traffic is. No exemption when the group does not exist."));

    public static final ConfigKey<String> VM_AGENT_IPTABLES_BACKEND = define(ConfigKey.builder(
                    "VM_AGENT_IPTABLES_BACKEND", choice("auto", "nft", "legacy"))
            .group(Group.AGENT).since("agent").defaultsTo("auto")
            .meaning("iptables backend: `auto` follows the one the host already uses (refusing to mix), or "
                    + "force `nft` or `legacy`."));

    // Workload identity (issue 5).

    public static final ConfigKey<Duration> VM_AGENT_CERT_MIN_REMAINING = define(ConfigKey.builder(
                    "VM_AGENT_CERT_MIN_REMAINING", duration(Duration.ZERO, MAX_DURATION))
            .group(Group.AGENT).since("agent").defaultsTo("6h")
            .meaning("Availability target: rotation starts no later than this long before the certificate expires, "
                    + "so a CA outage of up to this long goes unnoticed. Not applied to certificates whose lifetime "
                    + "is under twice this (the grace ratio decides alone)."));

    public static final ConfigKey<Duration> VM_AGENT_CA_BACKOFF_MAX = define(ConfigKey.builder(
                    "VM_AGENT_CA_BACKOFF_MAX", duration(Duration.ofSeconds(1), Duration.ofHours(1)))
            .group(Group.AGENT).since("agent").defaultsTo("2m")
            .meaning("Longest wait between two failed CA requests (exponential backoff from 1s with jitter; the "
                    + "agent never gives up)."));

    public static final ConfigKey<Duration> VM_AGENT_CA_TIMEOUT = define(ConfigKey.builder(
                    "VM_AGENT_CA_TIMEOUT", duration(Duration.ofMillis(100), Duration.ofMinutes(10)))
            .group(Group.AGENT).since("agent").defaultsTo("30s")
            .meaning("Deadline of one CA request, connection included."));

    public static final ConfigKey<Path> VM_AGENT_CA_TOKEN_FILE = define(ConfigKey.builder("VM_AGENT_CA_TOKEN_FILE",
                    path())
            .group(Group.AGENT).since("agent")
            .raisesPrivileges("names a file the agent reads as root and sends to the CA")
            .meaning("Bearer token file (Istio's istio-token) to enrol with when no valid certificate exists; "
                    + "unset = re-provisioning needs new files from the operator."));

    public static final ConfigKey<UserRef> VM_AGENT_CERTS_OWNER = define(ConfigKey.builder("VM_AGENT_CERTS_OWNER",
                    user())
            .group(Group.AGENT).since("agent").defaultsTo("istio-proxy")
            .raisesPrivileges("names the group the agent lets read the certificate files")
            .meaning("User (name or uid) whose group may read the files written to OUTPUT_CERTS (key 0640); "
                    + "they belong to root, so that this user cannot change what the agent trusts; a name's primary "
                    + "group is the group, a uid's group is the same number; 1337 when the name does not exist and no "
                    + "account has that id."));

    private static final List<ConfigKey<?>> ALL_VIEW = Collections.unmodifiableList(ALL);
    private static final Map<String, ConfigKey<?>> BY_NAME;

    static {
        Map<String, ConfigKey<?>> byName = new LinkedHashMap<>();
        for (ConfigKey<?> key : ALL) {
            if (byName.put(key.name(), key) != null) {
                throw new IllegalStateException("key declared twice: " + key.name());
            }
        }
        BY_NAME = Collections.unmodifiableMap(byName);
    }

    private ConfigKeys() {
    }

    private static <T> ConfigKey<T> define(ConfigKey.Builder<T> builder) {
        ConfigKey<T> key = builder.build();
        ALL.add(key);
        return key;
    }

    /** Every declared key, in declaration (and resolution) order. */
    public static List<ConfigKey<?>> all() {
        return ALL_VIEW;
    }

    public static Optional<ConfigKey<?>> byName(String name) {
        return Optional.ofNullable(BY_NAME.get(name));
    }

    /** True for names the agent understands: declared keys and the two node-metadata families. */
    public static boolean isKnown(String name) {
        return BY_NAME.containsKey(name) || isMetadataFamily(name);
    }

    static boolean isMetadataFamily(String name) {
        return (name.startsWith(META_JSON_PREFIX) && name.length() > META_JSON_PREFIX.length())
                || (name.startsWith(META_PREFIX) && name.length() > META_PREFIX.length());
    }
    /** Network interface names, comma-separated as Istio's lists are (Linux names: at most 15 characters). */
    private static ValueType<List<String>> interfaceList() {
        return new ValueType<>() {
            @Override
            public List<String> parse(String raw) throws InvalidValueException {
                if (raw.isBlank()) {
                    return List.of();
                }
                List<String> names = new ArrayList<>();
                for (String item : raw.split(",", -1)) {
                    String name = item.trim();
                    if (!name.matches("[A-Za-z0-9_.@-]{1,15}") || name.equals(".") || name.equals("..")) {
                        throw new InvalidValueException("'" + name + "' is not a network interface name (1-15 "
                                + "letters, digits, '_', '.', '@' or '-')");
                    }
                    if (name.equals("lo")) {
                        throw new InvalidValueException("'lo' cannot be excluded: Envoy's own capture path is "
                                + "loopback");
                    }
                    names.add(name);
                }
                return List.copyOf(names);
            }

            @Override
            public String describe() {
                return "interface names";
            }

            @Override
            public String format(List<String> value) {
                return String.join(",", value);
            }
        };
    }

    /** One numeric uid or gid; Istio 1.8 took a comma-separated list, this agent exempts exactly Envoy's ids. */
    private static ValueType<Long> proxyId(String what) {
        return new ValueType<>() {
            @Override
            public Long parse(String raw) throws InvalidValueException {
                if (raw.contains(",")) {
                    throw new InvalidValueException("lists of " + what + "s are not supported: the only " + what
                            + " exempt from capture is the one Envoy runs as; give that one");
                }
                if (!raw.matches("[0-9]{1,10}") || Long.parseLong(raw) > 4_294_967_294L) {
                    throw new InvalidValueException("'" + raw + "' is not a numeric " + what + " (0-4294967294)");
                }
                return Long.parseLong(raw);
            }

            @Override
            public String describe() {
                return "numeric " + what;
            }
        };
    }
}
