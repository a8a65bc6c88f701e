package io.istiovm.agent.envoy;

import io.istiovm.agent.config.ValueTypes;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.Prepared;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What the Envoy component would run, everything resolved: the settings, the validated bootstrap, the binary and
 * the user ({@code runAs} empty: the agent already is Envoy's user; otherwise {@code setpriv} switches to it), and
 * the host the supervision reads processes from.
 */
public record EnvoyPlan(EnvoySettings settings, EnvoyBootstrap bootstrap, Path binary, Optional<ProcessUser> runAs,
                        HostProcesses host) implements Prepared {

    public EnvoyPlan {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(bootstrap, "bootstrap");
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(runAs, "runAs");
        Objects.requireNonNull(host, "host");
    }

    /** The command line of {@code epoch}, reading its bootstrap from {@code bootstrapFile}. */
    List<String> command(Path bootstrapFile, int epoch) {
        List<String> envoy = EnvoyCommandLine.envoy(settings, binary, bootstrapFile, epoch);
        return runAs.map(u -> EnvoyCommandLine.asUser(u, settings.netAdmin(), envoy)).orElse(envoy);
    }

    @Override
    public void describe(PrintWriter out) {
        out.println("envoy: " + String.join(" ", command(settings.configDir().resolve("envoy-rev0.json"), 0)));
        out.println("envoy: admin " + settings.adminAddress() + ", base id " + settings.baseId()
                + (settings.netAdmin() ? ", CAP_NET_ADMIN (TPROXY)" : ", no capabilities") + ", bootstrap sha256 "
                + bootstrap.digest());
        out.println("envoy: crash restart after 0s, then " + format(settings.restartBackoff()) + " doubling up to "
                + format(settings.restartBackoffMax()) + "; stop drains " + format(settings.minimumDrain()) + " to "
                + format(settings.terminationDrain()) + ", SIGKILL after " + format(settings.stopTimeout()));
    }

    private static String format(Duration duration) {
        return ValueTypes.formatDuration(duration);
    }

    @Override
    public EnvoySupervision start(ComponentContext context) throws Exception {
        return EnvoySupervision.start(this, context);
    }
}
