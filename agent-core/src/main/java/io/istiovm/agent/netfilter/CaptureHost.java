package io.istiovm.agent.netfilter;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.UserRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What the rule plan needs from the host besides the settings: the SSH ports, the proxy's uid and gid and the
 * agent's gid. Read once, then the plan is a pure function. (Which address families are captured follows the
 * workload's address, a setting, not the host's addresses: see {@link CaptureSettings#ipv6Workload()}.)
 */
public record CaptureHost(List<Integer> sshPorts, long proxyUid, long proxyGid, OptionalLong agentGid) {
    /** Istio's fallback when ENVOY_USER does not exist on the host. */
    public static final long DEFAULT_PROXY_ID = 1337;

    public CaptureHost {
        sshPorts = List.copyOf(sshPorts);
        if (sshPorts.isEmpty()) {
            throw new IllegalArgumentException("at least one SSH port (22 when sshd names none)");
        }
        Objects.requireNonNull(agentGid, "agentGid");
    }

    /**
     * Reads the host: sshd's configuration, passwd and group under {@code etc}. PROXY_UID / PROXY_GID (Istio 1.8)
     * replace ENVOY_USER's ids, but a PROXY_UID that is not the uid ENVOY_USER names would capture Envoy's own
     * connections (a loop), so that is a configuration error.
     */
    public static CaptureHost read(CaptureSettings settings, Path etc) throws IOException, ConfigException {
        List<Integer> ssh = SshdPorts.read(settings.sshdConfig());
        UserRef proxy = settings.envoyUser();
        long uid;
        long gid;
        Optional<String[]> passwd = proxy.uid().isPresent()
                ? lookup(etc.resolve("passwd"), 2, Long.toString(proxy.uid().getAsLong()))
                : lookup(etc.resolve("passwd"), 0, proxy.name());
        if (passwd.isPresent()) {
            uid = Long.parseLong(passwd.get()[2]);
            gid = Long.parseLong(passwd.get()[3]);
        } else if (proxy.uid().isPresent()) {
            uid = proxy.uid().getAsLong();
            gid = uid;
        } else {
            uid = DEFAULT_PROXY_ID;
            gid = DEFAULT_PROXY_ID;
        }
        if (settings.proxyUid().isPresent()) {
            long configured = settings.proxyUid().getAsLong();
            if ((passwd.isPresent() || proxy.uid().isPresent()) && uid != configured) {
                throw new ConfigException(List.of(settings.proxyUidOrigin().error("Envoy runs as ENVOY_USER "
                        + proxy + ", uid " + uid + " in " + etc.resolve("passwd") + "; exempting uid " + configured
                        + " instead would send Envoy's own connections back into Envoy (a loop); unset PROXY_UID "
                        + "or make it " + uid)));
            }
            uid = configured;
            gid = settings.proxyGid().orElse(configured);
        } else if (settings.proxyGid().isPresent()) {
            gid = settings.proxyGid().getAsLong();
        }
        UserRef agentGroup = settings.agentGroup();
        OptionalLong agentGid;
        if (agentGroup.uid().isPresent()) {
            agentGid = agentGroup.uid();
        } else {
            agentGid = lookup(etc.resolve("group"), 0, agentGroup.name())
                    .map(fields -> OptionalLong.of(Long.parseLong(fields[2]))).orElse(OptionalLong.empty());
        }
        return new CaptureHost(ssh, uid, gid, agentGid);
    }

    /** The first colon-separated line of {@code file} whose field {@code index} equals {@code value}. */
    private static Optional<String[]> lookup(Path file, int index, String value) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        for (String line : lines) {
            String[] fields = line.split(":", -1);
            if (fields.length > 3 && fields[index].equals(value) && fields[2].matches("[0-9]{1,10}")
                    && (!file.endsWith("passwd") || fields[3].matches("[0-9]{1,10}"))) {
                return Optional.of(fields);
            }
        }
        return Optional.empty();
    }
}
