package io.istiovm.agent.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Two network namespaces joined by a veth pair, as a VM and a host on its network:
 *
 * <pre>
 *   vm   (veth, 10.200.0.1/24, fd00:200::1/64; default routes via peer)
 *   peer (veth, 10.200.0.2/24, fd00:200::2/64; "remote services" added with {@link #addPeerAddress})
 * </pre>
 *
 * Names are unique per instance (tests may run concurrently, a crashed run leaves no clash) and
 * {@link #close()} deletes both namespaces, which also deletes the veth pair and every rule in them; the host's
 * own network is never touched. Commands run inside a namespace through {@code ip netns exec}.
 */
public final class VmPeerNetwork implements AutoCloseable {
    public static final String VM_IPV4 = "10.200.0.1";
    public static final String PEER_IPV4 = "10.200.0.2";
    public static final String VM_IPV6 = "fd00:200::1";
    public static final String PEER_IPV6 = "fd00:200::2";

    public static final String CONTAINER_IPV4 = "10.201.0.2";
    public static final String CONTAINER_GATEWAY_IPV4 = "10.201.0.1";

    private final String vm;
    private final String peer;
    private final String suffix;
    private String container;
    private final List<OriginalDestinationListener> listeners = new ArrayList<>();

    private VmPeerNetwork(String suffix) {
        this.vm = "ivavm-" + suffix;
        this.peer = "ivapeer-" + suffix;
        this.suffix = suffix;
    }

    public static VmPeerNetwork create() throws IOException {
        String suffix = Long.toHexString(ProcessHandle.current().pid()) + "-"
                + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        VmPeerNetwork network = new VmPeerNetwork(suffix);
        try {
            network.build(suffix);
        } catch (IOException | RuntimeException e) {
            network.close();
            throw e;
        }
        return network;
    }

    private void build(String suffix) throws IOException {
        String vmLink = "iva" + suffix.substring(suffix.length() - 6);
        String peerLink = "ivb" + suffix.substring(suffix.length() - 6);
        run("ip", "netns", "add", vm);
        run("ip", "netns", "add", peer);
        run("ip", "link", "add", vmLink, "netns", vm, "type", "veth", "peer", "name", peerLink, "netns", peer);
        for (String[] side : new String[][] {{vm, vmLink, VM_IPV4, VM_IPV6}, {peer, peerLink, PEER_IPV4, PEER_IPV6}}) {
            inNamespace(side[0], "ip", "link", "set", "lo", "up");
            inNamespace(side[0], "ip", "addr", "add", side[2] + "/24", "dev", side[1]);
            inNamespace(side[0], "ip", "-6", "addr", "add", side[3] + "/64", "dev", side[1], "nodad");
            inNamespace(side[0], "ip", "link", "set", side[1], "up");
        }
        inNamespace(vm, "ip", "route", "add", "default", "via", PEER_IPV4);
        inNamespace(vm, "ip", "-6", "route", "add", "default", "via", PEER_IPV6);
    }

    public String vm() {
        return vm;
    }

    public String peer() {
        return peer;
    }

    /**
     * A third namespace behind the VM, as a container on a bridge (docker0) or a VM guest: joined to {@code vm} by a
     * veth pair, {@value #CONTAINER_IPV4}/24 with its default route via the VM, which forwards its traffic to the
     * peer (and the peer routes the replies back). Returns the name of the VM's side of the veth, the interface to
     * exclude from capture; the namespace is {@link #container()}.
     */
    public String attachContainer() throws IOException {
        if (container != null) {
            throw new IllegalStateException("a container is already attached");
        }
        container = "ivactr-" + suffix;
        String vmSide = "ivc" + suffix.substring(suffix.length() - 6);
        String containerSide = "ivd" + suffix.substring(suffix.length() - 6);
        run("ip", "netns", "add", container);
        run("ip", "link", "add", vmSide, "netns", vm, "type", "veth", "peer", "name", containerSide, "netns",
                container);
        inNamespace(container, "ip", "link", "set", "lo", "up");
        inNamespace(container, "ip", "addr", "add", CONTAINER_IPV4 + "/24", "dev", containerSide);
        inNamespace(container, "ip", "link", "set", containerSide, "up");
        inNamespace(container, "ip", "route", "add", "default", "via", CONTAINER_GATEWAY_IPV4);
        inNamespace(vm, "ip", "addr", "add", CONTAINER_GATEWAY_IPV4 + "/24", "dev", vmSide);
        inNamespace(vm, "ip", "link", "set", vmSide, "up");
        inNamespace(vm, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        inNamespace(peer, "ip", "route", "add", "10.201.0.0/24", "via", VM_IPV4);
        return vmSide;
    }

    /** The namespace {@link #attachContainer()} made. */
    public String container() {
        if (container == null) {
            throw new IllegalStateException("no container attached");
        }
        return container;
    }

    /** Gives the peer one more address (a "service" the VM reaches through its default route). */
    public void addPeerAddress(String address) throws IOException {
        boolean v6 = address.contains(":");
        if (v6) {
            inNamespace(peer, "ip", "-6", "addr", "add", address + "/128", "dev", "lo", "nodad");
        } else {
            inNamespace(peer, "ip", "-4", "addr", "add", address + "/32", "dev", "lo");
        }
    }

    /**
     * Starts a listener bound to one {@code address} (not the wildcard) in {@code namespace}, as an application
     * that binds its service address; answers {@code "<name> <original destination>"}; closed with this.
     */
    public OriginalDestinationListener listenOn(String namespace, String name, String address, int port)
            throws IOException {
        OriginalDestinationListener listener = OriginalDestinationListener.start(namespace, name, address, port,
                false, false);
        listeners.add(listener);
        return listener;
    }

    /** As {@link #listenOn}, answering {@code "<name> <destination> from <client>"}. */
    public OriginalDestinationListener listenOnReportingClient(String namespace, String name, String address,
                                                              int port) throws IOException {
        OriginalDestinationListener listener = OriginalDestinationListener.start(namespace, name, address, port,
                false, true);
        listeners.add(listener);
        return listener;
    }

    /**
     * The inbound stand-in of Envoy in TPROXY mode: a transparent socket on {@code port} of both families that
     * answers {@code "<name> <original destination> from <client address>"}, so a test sees that the client's
     * address was preserved.
     */
    public void startTransparentInboundStandIn(int port) throws IOException {
        for (boolean v6 : new boolean[] {false, true}) {
            listeners.add(OriginalDestinationListener.start(vm, "envoy-inbound", v6 ? "::" : "0.0.0.0", port, true,
                    true));
        }
    }

    /** The TPROXY inbound stand-in with Envoy's passthrough (see {@link OriginalDestinationListener}); in the VM. */
    public void startTproxyPassthroughStandIn(int port, long mark) throws IOException {
        listeners.add(OriginalDestinationListener.startTproxyPassthrough(vm, "envoy-inbound", port, mark));
    }

    /** Starts a listener in {@code namespace} answering {@code "<name> <original destination>"}; closed with this. */
    public OriginalDestinationListener listen(String namespace, String name, boolean ipv6, int port)
            throws IOException {
        OriginalDestinationListener listener = OriginalDestinationListener.start(namespace, name, ipv6, port);
        listeners.add(listener);
        return listener;
    }

    /**
     * The stand-in for Envoy in the VM: "envoy-outbound" on 15001 and "envoy-inbound" on 15006, both families.
     * The inbound sockets are transparent, as Envoy's are in TPROXY mode, which REDIRECT does not mind.
     */
    public void startEnvoyStandIn() throws IOException {
        for (boolean v6 : new boolean[] {false, true}) {
            listeners.add(OriginalDestinationListener.start(vm, "envoy-outbound", v6, 15001, false));
            listeners.add(OriginalDestinationListener.start(vm, "envoy-inbound", v6, 15006, true));
        }
    }

    /**
     * Connects from {@code namespace} as {@code uid}/{@code gid} (no supplementary groups) to host:port and
     * returns the line the listener answered, or {@code "no answer: ..."} when the connection failed.
     */
    public String connect(String namespace, long uid, long gid, String host, int port) throws IOException {
        ProcessResult result = exec(List.of("ip", "netns", "exec", namespace, "setpriv", "--reuid=" + uid,
                "--regid=" + gid, "--clear-groups", "timeout", "5", "bash", "-c",
                "exec 3<>/dev/tcp/" + host + "/" + port + " && cat <&3"));
        return result.exitCode() == 0 ? result.stdout().strip() : "no answer: " + result.stderr().strip();
    }

    /**
     * As {@link #connect}, by name: {@code hostsFile} is bind-mounted over /etc/hosts in a private mount namespace
     * of the client alone (the host's /etc/hosts is not touched), so the name resolves as it would on a VM whose
     * /etc/hosts the agent wrote.
     */
    public String connectByName(String namespace, long uid, long gid, java.nio.file.Path hostsFile, String host,
                                int port) throws IOException {
        ProcessResult result = exec(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind \"$0\" /etc/hosts && exec \"$@\"", hostsFile.toString(),
                "ip", "netns", "exec", namespace, "setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups",
                "timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/" + host + "/" + port + " && cat <&3"));
        return result.exitCode() == 0 ? result.stdout().strip() : "no answer: " + result.stderr().strip();
    }

    /** Runs a command in {@code namespace}; fails the test setup when it fails. */
    public String inNamespace(String namespace, String... command) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", namespace));
        full.addAll(List.of(command));
        ProcessResult result = exec(full);
        if (result.exitCode() != 0) {
            throw new IOException(String.join(" ", full) + " exited " + result.exitCode() + ": " + result.stderr());
        }
        return result.stdout();
    }

    /** {@code iptables-save} (or ip6tables-save) of the VM without its timestamp comments. */
    public String vmSave(boolean ipv6) throws IOException {
        return inNamespace(vm, ipv6 ? "ip6tables-save" : "iptables-save").lines()
                .filter(line -> !line.startsWith("#")).reduce("", (a, b) -> a + b + "\n");
    }

    private static void run(String... command) throws IOException {
        ProcessResult result = exec(List.of(command));
        if (result.exitCode() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + result.exitCode() + ": "
                    + result.stderr());
        }
    }

    public record ProcessResult(int exitCode, String stdout, String stderr) {
    }

    public static ProcessResult exec(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(
                new java.io.File("/dev/null"))).start();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread errReader = new Thread(() -> copy(process.getErrorStream(), err));
        errReader.start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        copy(process.getInputStream(), out);
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(command + " did not finish in 30 s");
            }
            errReader.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new ProcessResult(process.exitValue(), out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8));
    }

    private static void copy(InputStream in, ByteArrayOutputStream out) {
        try (in) {
            in.transferTo(out);
        } catch (IOException e) {
            // The process ended; what was read is what there is.
        }
    }

    /** Stops the listeners and deletes both namespaces; safe to call on a half-built network. */
    @Override
    public void close() throws IOException {
        for (OriginalDestinationListener listener : listeners) {
            try {
                listener.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        listeners.clear();
        exec(List.of("ip", "netns", "del", vm));
        exec(List.of("ip", "netns", "del", peer));
        if (container != null) {
            exec(List.of("ip", "netns", "del", container));
        }
    }
}
