package io.istiovm.agent.envoy;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StderrAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.health_check.v3.HealthCheck;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.listener.http_inspector.v3.HttpInspector;
import io.envoyproxy.envoy.extensions.filters.listener.original_dst.v3.OriginalDst;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.util.List;

/**
 * Envoy's own schema ({@code envoy.config.bootstrap.v3.Bootstrap} from Envoy's API protos) used as the judge of
 * every bootstrap: parsing is strict (an unknown field is an error, as in Envoy's {@code --mode validate}) and
 * every {@code typed_config} must name a type this registry knows, so a typo in an {@code @type} fails here, in
 * the agent, instead of in a crash-looping Envoy.
 */
public final class BootstrapSchema {
    /** The extension types a bootstrap (generated or ISTIO_BOOTSTRAP_OVERRIDE) may carry in an {@code Any}. */
    private static final List<Descriptor> EXTENSIONS = List.of(
            HttpConnectionManager.getDescriptor(), Router.getDescriptor(), HealthCheck.getDescriptor(),
            TcpProxy.getDescriptor(), UpstreamTlsContext.getDescriptor(), DownstreamTlsContext.getDescriptor(),
            Secret.getDescriptor(), RawBuffer.getDescriptor(), HttpProtocolOptions.getDescriptor(),
            OriginalDst.getDescriptor(), TlsInspector.getDescriptor(), HttpInspector.getDescriptor(),
            FileAccessLog.getDescriptor(), StdoutAccessLog.getDescriptor(), StderrAccessLog.getDescriptor());

    public static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder().add(EXTENSIONS).build();

    private static final JsonFormat.Parser PARSER = JsonFormat.parser().usingTypeRegistry(TYPES);
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().usingTypeRegistry(TYPES)
            .preservingProtoFieldNames();

    private BootstrapSchema() {
    }

    /**
     * Parses {@code json} strictly. {@code origin} names where it came from (a file, "generated bootstrap") and
     * leads the error message.
     */
    public static Bootstrap parse(String json, String origin) throws InvalidBootstrapException {
        Bootstrap.Builder builder = Bootstrap.newBuilder();
        try {
            PARSER.merge(json, builder);
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            // JsonFormat reports malformed JSON as an unchecked exception from gson.
            throw new InvalidBootstrapException(origin + ": not a valid envoy.config.bootstrap.v3.Bootstrap: "
                    + e.getMessage(), e);
        }
        return builder.build();
    }

    /**
     * Checks Envoy's validation rules ({@link ValidationRules}) on a parsed or merged bootstrap, as Envoy does
     * before it uses one; the message names {@code origin} and every violated rule with its field path.
     */
    public static Bootstrap validate(Bootstrap bootstrap, String origin) throws InvalidBootstrapException {
        List<String> violations = ValidationRules.violations(bootstrap, TYPES);
        if (!violations.isEmpty()) {
            throw new InvalidBootstrapException(origin + ": breaks Envoy's validation rules: "
                    + String.join("; ", violations), null);
        }
        return bootstrap;
    }

    /** Canonical JSON with Envoy's snake_case field names; what the agent writes and golden files hold. */
    public static String print(Bootstrap bootstrap) {
        try {
            return PRINTER.print(bootstrap) + "\n";
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("a parsed bootstrap must print", e);
        }
    }
}
