package io.istiovm.agent.ca;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.AgentConfig;
import io.istiovm.agent.config.ConfigKeys;
import io.istiovm.agent.daemon.Component;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the workload identity in OUTPUT_CERTS valid: one thread runs {@link Rotator#tick()} and waits until the
 * instant it returns, waking early when the certificate directories change (a hand-placed identity is
 * validated and adopted, an invalid one rejected) or on stop. Ready while the published identity is valid.
 * Other components take the identity from {@link #state()}.
 */
public final class IdentityComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(IdentityComponent.class);
    /** The loop re-checks at least this often, so a clock jump (suspend, NTP) is noticed. */
    private static final Duration MAX_WAIT = Duration.ofSeconds(30);

    private final Clock clock;
    private final AgentConfig config;
    private final IdentityState state;
    private final Object lock = new Object();
    private IdentityFiles files;
    private Rotator rotator;
    /** The identity found on disk by {@link #prepare()}; null when the agent must enrol with its token. */
    private WorkloadIdentity loaded;
    private Thread loop;
    private Thread watcher;
    private WatchService watchService;
    private boolean stopped;
    private boolean diskChanged;

    public IdentityComponent(AgentConfig config, Clock clock) {
        this(config, clock, new IdentityState());
    }

    public IdentityComponent(AgentConfig config, Clock clock, IdentityState state) {
        this.config = config;
        this.clock = clock;
        this.state = state;
    }

    @Override
    public String name() {
        return "identity";
    }

    /** The current identity, for the SDS server and anyone else who serves it. */
    public IdentityState state() {
        return state;
    }

    /**
     * Loads the identity on disk. Without a valid one and without a token to enrol with, the agent cannot get one,
     * so it refuses to start and says what the operator must do.
     */
    @Override
    public void prepare() throws IOException, InvalidIdentityException {
        files = new IdentityFiles(config, clock);
        try {
            loaded = files.load();
        } catch (InvalidIdentityException e) {
            if (files.tokenFile().isEmpty()) {
                throw new InvalidIdentityException(appendInstruction(e));
            }
            loaded = null;
            LOG.warn("no valid identity ({}); enrolling with the token in {}", e.getMessage(), files.tokenFile().get());
        }
    }

    @Override
    public void start() throws IOException, InvalidIdentityException {
        if (files == null) {
            prepare();
        }
        rotator = new Rotator(clock, files.policy(), new SecureRandom(), state, files::renew);
        if (loaded != null) {
            rotator.adopt(loaded);
        }
        files.output().ensureExists();
        watchService = FileSystems.getDefault().newWatchService();
        for (CertsDirectory dir : files.directories()) {
            if (dir.dir().toFile().isDirectory()) {
                dir.dir().register(watchService, StandardWatchEventKinds.ENTRY_CREATE,
                        StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE);
            }
        }
        watcher = new Thread(this::watch, "identity-watch");
        watcher.setDaemon(true);
        watcher.start();
        loop = new Thread(this::run, "identity-rotation");
        loop.setDaemon(true);
        loop.start();
    }

    private static List<String> appendInstruction(InvalidIdentityException e) {
        List<String> problems = new ArrayList<>(e.problems());
        problems.add("no valid workload identity and VM_AGENT_CA_TOKEN_FILE is not set: place a valid "
                + "root-cert.pem, cert-chain.pem and key.pem (from `istioctl x workload entry configure`) in "
                + "OUTPUT_CERTS/PROV_CERT, or set VM_AGENT_CA_TOKEN_FILE to a bearer token to enrol");
        return problems;
    }

    private void run() {
        while (true) {
            Instant next;
            boolean reload;
            synchronized (lock) {
                if (stopped) {
                    return;
                }
                reload = diskChanged;
                diskChanged = false;
            }
            if (reload) {
                reloadFromDisk();
            }
            next = rotator.tick();
            synchronized (lock) {
                while (!stopped && !diskChanged) {
                    long millis = Duration.between(clock.instant(), next).toMillis();
                    if (millis <= 0) {
                        break;
                    }
                    try {
                        lock.wait(Math.min(millis, MAX_WAIT.toMillis()));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                    if (Duration.between(clock.instant(), next).toMillis() > MAX_WAIT.toMillis()) {
                        break;
                    }
                }
            }
        }
    }

    /** A change in a certificate directory: adopt a valid new identity, refuse an invalid one. */
    private void reloadFromDisk() {
        Optional<WorkloadIdentity> current = state.current();
        try {
            WorkloadIdentity onDisk = files.load();
            if (!onDisk.sameLeafAs(current.orElse(null))) {
                LOG.info("adopting the identity found on disk: {}", onDisk);
                rotator.adopt(onDisk);
            }
        } catch (InvalidIdentityException e) {
            LOG.warn("certificate files changed but are not usable, keeping {}: {}",
                    current.map(Object::toString).orElse("no identity"), e.getMessage());
        } catch (IOException e) {
            LOG.warn("cannot read the certificate files, keeping the current identity: {}", e.toString());
        }
    }

    private void watch() {
        try {
            while (true) {
                WatchKey key = watchService.take();
                key.pollEvents();
                key.reset();
                synchronized (lock) {
                    diskChanged = true;
                    lock.notifyAll();
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // stopping
        }
    }

    @Override
    public boolean ready() {
        return state.current().map(identity -> identity.isValidAt(clock.instant())).orElse(false);
    }

    @Override
    public void describe(PrintWriter out) {
        out.println("#   certificates: " + config.get(ConfigKeys.OUTPUT_CERTS) + " (provisioned: "
                + config.get(ConfigKeys.PROV_CERT) + ")");
        out.println("#   CA: " + CaEndpoint.fromConfig(config));
    }

    @Override
    public void stop() throws IOException, InterruptedException {
        synchronized (lock) {
            stopped = true;
            lock.notifyAll();
        }
        if (watchService != null) {
            watchService.close();
        }
        if (loop != null) {
            loop.join(Duration.ofSeconds(10).toMillis());
        }
    }
}
