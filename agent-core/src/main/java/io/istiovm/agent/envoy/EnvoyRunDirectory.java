package io.istiovm.agent.envoy;

import io.istiovm.agent.fs.HeldDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The agent's directory for Envoy's process ({@link EnvoySettings#runDirectory()}): owned by the agent's user,
 * mode 0750 with Envoy's group, so Envoy may enter it but only the agent may write it, and no other local user
 * may enter it at all. It holds
 *
 * <ul>
 *   <li>{@code envoy.pids}: the Envoy processes the agent started ({@link ProcessIdentity}, one a line), so that
 *       the next agent recognises an Envoy a killed agent left behind by its start time and executable, never by
 *       what its command line says, and never kills a process that merely reuses its pid;</li>
 *   <li>{@code socket/}: mode 0770 with Envoy's group, where Envoy binds its admin socket (mode 0660). Envoy's
 *       user may write there (it must create the socket); nobody outside Envoy's group can even reach the name.</li>
 * </ul>
 *
 * <p>An existing directory not owned by the agent's user is refused, not adopted: someone else made it, and
 * could have made it to read the record or to reach the socket.
 */
final class EnvoyRunDirectory {
    static final String RECORD = "envoy.pids";
    static final String SOCKET_DIRECTORY = "socket";
    private static final int RECORD_LIMIT = 64 * 1024;

    private final Path dir;
    private final long agentUid;
    private final OptionalInt envoyGroup;

    EnvoyRunDirectory(Path dir, long agentUid, OptionalInt envoyGroup) {
        this.dir = dir;
        this.agentUid = agentUid;
        this.envoyGroup = envoyGroup;
    }

    /** Creates (or checks and re-modes) the directory and its socket directory. */
    void prepare() throws IOException {
        try (HeldDirectory held = HeldDirectory.openOrCreate(dir, 0750, envoyGroup).directory()) {
            own(held, 0750);
            held.makeDirectory(SOCKET_DIRECTORY);
            try (HeldDirectory sockets = held.openDirectory(SOCKET_DIRECTORY)) {
                own(sockets, 0770);
            }
        }
    }

    private void own(HeldDirectory held, int mode) throws IOException {
        long owner = ((Number) Files.getAttribute(held.self(), "unix:uid")).longValue();
        if (owner != agentUid) {
            throw new IOException(held.path() + ": owned by uid " + owner + ", not the agent's uid " + agentUid
                    + "; refusing to use it (remove it and restart the agent)");
        }
        if (envoyGroup.isPresent()) {
            held.setGroup(envoyGroup.getAsInt());
        }
        held.setMode(mode);
    }

    /** The processes recorded by the agent that ran before; empty when there is no record. */
    List<ProcessIdentity> recorded() throws IOException {
        HeldDirectory.RegularFile file;
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            file = held.readRegularFile(RECORD, RECORD_LIMIT);
        } catch (NoSuchFileException e) {
            return List.of();
        }
        if (file.uid() != agentUid || (file.mode() & 022) != 0) {
            throw new IOException(file.path() + ": owned by uid " + file.uid() + " with mode "
                    + Integer.toOctalString(file.mode()) + "; the agent writes it as uid " + agentUid
                    + " and mode 640, so it is not the agent's record");
        }
        List<ProcessIdentity> processes = new ArrayList<>();
        for (String line : file.text().split("\n")) {
            if (!line.isEmpty()) {
                processes.add(ProcessIdentity.parse(line));
            }
        }
        return processes;
    }

    /** Replaces the record with {@code processes}. */
    void record(List<ProcessIdentity> processes) throws IOException {
        StringBuilder text = new StringBuilder();
        processes.forEach(p -> text.append(p.line()).append('\n'));
        try (HeldDirectory held = HeldDirectory.open(dir)) {
            held.writeAtomically(RECORD, text.toString().getBytes(StandardCharsets.UTF_8), 0640);
        }
    }
}
