package io.istiovm.agent.sds;

import io.istiovm.agent.daemon.Component;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workload identity as files: {@code cert-chain.pem}, {@code key.pem} and {@code root-cert.pem} in one
 * directory (Istio's OUTPUT_CERTS layout), re-read on an interval. The version is a digest of the three files,
 * so a rewrite with identical content is not a change. Until the certificate rotation component publishes
 * identities itself, this is how SDS learns of them.
 */
public final class PemDirectoryIdentity implements Component, IdentitySource {
    private static final Logger LOG = LoggerFactory.getLogger(PemDirectoryIdentity.class);

    private final Path directory;
    private final Duration interval;
    private final IdentityHolder holder = new IdentityHolder();
    private ScheduledExecutorService timer;

    public PemDirectoryIdentity(Path directory, Duration interval) {
        this.directory = directory;
        this.interval = interval;
    }

    @Override
    public String name() {
        return "identity-files";
    }

    @Override
    public synchronized void start() {
        refresh();
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "identity-files");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::refresh, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Reads the files once; a missing or half-written set keeps the previous identity. */
    public void refresh() {
        try {
            String chain = Files.readString(directory.resolve("cert-chain.pem"));
            String key = Files.readString(directory.resolve("key.pem"));
            String root = Files.readString(directory.resolve("root-cert.pem"));
            holder.set(new WorkloadIdentity(chain, key, root, digest(chain, key, root)));
        } catch (NoSuchFileException e) {
            LOG.debug("identity files not (yet) complete in {}: {} is missing", directory, e.getFile());
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("identity files in {} unusable: {}", directory, e.getMessage());
        }
    }

    private static String digest(String... parts) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String part : parts) {
                sha.update(part.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean ready() {
        return holder.current().isPresent();
    }

    @Override
    public void describe(PrintWriter out) {
        out.println("identity from " + directory + "/{cert-chain,key,root-cert}.pem, re-read every "
                + io.istiovm.agent.config.ValueTypes.formatDuration(interval));
    }

    @Override
    public synchronized void stop() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }

    @Override
    public Optional<WorkloadIdentity> current() {
        return holder.current();
    }

    @Override
    public Subscription subscribe(Consumer<WorkloadIdentity> listener) {
        return holder.subscribe(listener);
    }
}
