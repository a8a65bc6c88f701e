package io.istiovm.agent.envoy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Istio's Envoy command line for one epoch, optionally behind {@code setpriv} to drop to Envoy's user. */
public final class EnvoyCommandLine {
    /** Envoy's default log line with the level as a bracketed field, which the agent parses back out. */
    static final String LOG_FORMAT = "[%Y-%m-%d %T.%e][%t][%l][%n] %v";

    private EnvoyCommandLine() {
    }

    public static List<String> envoy(EnvoySettings s, Path binary, Path bootstrap, int epoch) {
        List<String> args = new ArrayList<>(List.of(binary.toString(),
                "-c", bootstrap.toString(),
                "--restart-epoch", Integer.toString(epoch),
                "--drain-time-s", Long.toString(s.drainTime().toSeconds()),
                "--parent-shutdown-time-s", Long.toString(s.parentShutdownTime().toSeconds()),
                // Istio's: on drain every connection is told to close at once, not a growing fraction of them.
                "--drain-strategy", "immediate",
                // Our own shared memory and hot-restart sockets, apart from any other Envoy on the host.
                "--base-id", Integer.toString(s.baseId()),
                "--service-cluster", s.serviceCluster(),
                "--service-node", s.nodeId(),
                "--local-address-ip-version", s.ipVersion(),
                "--log-format", LOG_FORMAT,
                "-l", s.logLevel()));
        if (s.concurrency() > 0) {
            args.add("--concurrency");
            args.add(Integer.toString(s.concurrency()));
        }
        return args;
    }

    /**
     * {@code setpriv} switches to Envoy's uid and gid with no supplementary groups and no capabilities (none
     * inheritable, an empty bounding set, no_new_privs), and asks the kernel to SIGKILL Envoy when the agent
     * dies, so no Envoy outlives its supervisor. With {@code netAdmin} (TPROXY capture: Envoy's listeners need
     * IP_TRANSPARENT) CAP_NET_ADMIN is the one capability left: inheritable, ambient (so it survives the exec of a
     * non-root user's binary) and the whole bounding set; nothing else.
     */
    public static List<String> asUser(ProcessUser user, boolean netAdmin, List<String> command) {
        String caps = netAdmin ? "-all,+net_admin" : "-all";
        List<String> args = new ArrayList<>(List.of("setpriv",
                "--reuid=" + user.uid(), "--regid=" + user.gid(), "--clear-groups", "--inh-caps=" + caps));
        if (netAdmin) {
            args.add("--ambient-caps=" + caps);
        }
        args.addAll(List.of("--bounding-set=" + caps, "--no-new-privs", "--pdeathsig=SIGKILL", "--"));
        args.addAll(command);
        return args;
    }
}
