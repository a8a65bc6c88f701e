package io.istiovm.agent.it.envoy;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The stand-in's routes ({@code ENVOY_STANDIN_ROUTES}), standing in for the listeners and clusters istiod would send
 * Envoy over xDS for the guide's scenario. One route a line, {@code #} starts a comment:
 *
 * <pre>
 *   # outbound: a captured connection to this original destination goes over mTLS to the gateway, with this SNI
 *   # ... and, with san=, the upstream must present that SPIFFE id (the destination's service account)
 *   127.255.0.3:8000 -&gt; 10.200.0.2:15443 sni=outbound_.8000_._.httpbin.bar.svc.cluster.local san=spiffe://cluster.local/ns/bar/sa/httpbin
 *   # inbound: a captured connection to this port goes, plain, to the application on 127.0.0.1
 *   inbound 8888
 * </pre>
 *
 * <p>The SNI is Istio's for an outbound cluster, {@code outbound_.<port>_.<subset>_.<fqdn>} with {@code _} for no
 * subset (istio/istio pilot/pkg/model/service.go {@code BuildDNSSrvSubsetKey}, as of 1.2x; the east-west gateway's
 * AUTO_PASSTHROUGH listener routes on it). Inbound goes to 127.0.0.1 as the brief's sidecar does (Istio up to 1.9;
 * from 1.10 Envoy delivers to the original destination address instead). A connection whose destination has no
 * route keeps the stand-in's echo.
 */
public record StandInRoutes(Map<String, Outbound> outbound, Set<Integer> inbound) {
    private static final Pattern OUTBOUND = Pattern.compile(
            "([0-9.]+:[0-9]{1,5})\\s+->\\s+([0-9.]+):([0-9]{1,5})\\s+sni=(\\S+)(?:\\s+san=(spiffe://\\S+))?");
    private static final Pattern INBOUND = Pattern.compile("inbound\\s+([0-9]{1,5})");
    private static final Pattern SNI = Pattern.compile("outbound_\\.[0-9]{1,5}_\\.[A-Za-z0-9-]*_\\.[A-Za-z0-9.-]+");
    static final long MAX_BYTES = 64 * 1024;

    /**
     * Where an outbound connection goes: the gateway's address, the SNI that names the target there, and the
     * SPIFFE id the upstream must present, if any.
     */
    public record Outbound(InetSocketAddress upstream, String sni, Optional<String> san) {
        public Outbound {
            if (upstream.isUnresolved()) {
                throw new IllegalArgumentException("an upstream is an IP address: " + upstream);
            }
            if (!SNI.matcher(sni).matches()) {
                throw new IllegalArgumentException("not Istio's outbound SNI (outbound_.<port>_.<subset>_.<fqdn>): "
                        + sni);
            }
        }
    }

    public StandInRoutes {
        outbound = Map.copyOf(outbound);
        inbound = Set.copyOf(inbound);
        for (int port : inbound) {
            checkPort(port);
        }
    }

    public static StandInRoutes none() {
        return new StandInRoutes(Map.of(), Set.of());
    }

    /** The routes of {@code ENVOY_STANDIN_ROUTES}, or none when it is unset. */
    static StandInRoutes fromEnvironment() throws IOException {
        String file = System.getenv("ENVOY_STANDIN_ROUTES");
        return file == null ? none() : read(Path.of(file));
    }

    public static StandInRoutes read(Path file) throws IOException {
        if (Files.size(file) > MAX_BYTES) {
            throw new IOException(file + ": a route table is at most " + MAX_BYTES + " bytes");
        }
        return parse(Files.readAllLines(file));
    }

    public static StandInRoutes parse(List<String> lines) {
        Map<String, Outbound> outbound = new LinkedHashMap<>();
        Set<Integer> inbound = new LinkedHashSet<>();
        int number = 0;
        for (String raw : lines) {
            number++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher out = OUTBOUND.matcher(line);
            Matcher in = INBOUND.matcher(line);
            if (out.matches()) {
                checkPort(Integer.parseInt(out.group(3)));
                Outbound route = new Outbound(new InetSocketAddress(out.group(2), Integer.parseInt(out.group(3))),
                        out.group(4), Optional.ofNullable(out.group(5)));
                if (outbound.put(out.group(1), route) != null) {
                    throw new IllegalArgumentException("line " + number + ": a second route for " + out.group(1));
                }
            } else if (in.matches()) {
                inbound.add(Integer.parseInt(in.group(1)));
            } else {
                throw new IllegalArgumentException("line " + number + ": not a route: " + line);
            }
        }
        return new StandInRoutes(outbound, inbound);
    }

    /** The route of a captured outbound connection to {@code originalDestination} ({@code ip:port}). */
    public Optional<Outbound> outbound(String originalDestination) {
        return Optional.ofNullable(outbound.get(originalDestination));
    }

    /** The application's address for a captured inbound connection to {@code originalDestination}. */
    public Optional<InetSocketAddress> inbound(String originalDestination) {
        int port = Integer.parseInt(originalDestination.substring(originalDestination.lastIndexOf(':') + 1));
        return inbound.contains(port) ? Optional.of(new InetSocketAddress("127.0.0.1", port)) : Optional.empty();
    }

    private static void checkPort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("not a port: " + port);
        }
    }
}
