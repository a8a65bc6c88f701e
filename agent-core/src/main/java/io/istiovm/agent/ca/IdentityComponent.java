package io.istiovm.agent.ca;

import io.istiovm.agent.certs.CertsDirectory;
import io.istiovm.agent.certs.IdentityState;
import io.istiovm.agent.certs.InvalidIdentityException;
import io.istiovm.agent.certs.WorkloadIdentity;
import io.istiovm.agent.config.ValueTypes;
import io.istiovm.agent.lifecycle.Component;
import io.istiovm.agent.lifecycle.ComponentContext;
import io.istiovm.agent.lifecycle.FileEvents;
import io.istiovm.agent.lifecycle.Loop;
import io.istiovm.agent.lifecycle.Prepared;
import io.istiovm.agent.lifecycle.Reconciled;
import io.istiovm.agent.lifecycle.Running;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the workload identity in OUTPUT_CERTS valid and published in the shared {@link IdentityState} (which SDS
 * serves). {@link #prepare()} starts from the published identity when there is one (a reload), else loads the
 * identity on disk or decides to enrol with the token; running, one loop step runs {@link Rotator#tick()} and
 * sleeps until the instant it returns, woken early when the certificate directories change (a valid identity
 * placed by hand is adopted, an invalid one ignored).
 *
 * <p>State: READY while the published identity is valid and renewal is on schedule; DEGRADED while renewals fail
 * but the certificate is still valid; FAILED while there is no valid identity (none yet, or expired).
 */
public final class IdentityComponent implements Component {
    private static final Logger LOG = LoggerFactory.getLogger(IdentityComponent.class);

    /** Opens the configured identity files with their collaborators (the assembly's wiring; reads /etc/passwd). */
    private final Callable<IdentityFiles> opener;
    private final IdentityState state;
    private final FileEvents fileEvents;

    /**
     * @param opener     the identity files as configured, opened at {@link #prepare()}
     * @param state      the agent's one current identity, which outlives reloads and is served by SDS
     * @param fileEvents the agent's one file watch, for identities placed by hand
     */
    public IdentityComponent(Callable<IdentityFiles> opener, IdentityState state, FileEvents fileEvents) {
        this.opener = Objects.requireNonNull(opener, "opener");
        this.state = Objects.requireNonNull(state, "state");
        this.fileEvents = Objects.requireNonNull(fileEvents, "fileEvents");
    }

    @Override
    public String name() {
        return "identity";
    }

    /**
     * Before any identity is published (first start, dry run): loads the identity on disk; without a valid one and
     * without a token to enrol with, the agent cannot get one, so it refuses to start and says what the operator
     * must do. Once one is published (a reload), that one is the starting point and the disk is not read: the
     * running identity was validated already, and the disk may hold one that is expired or checked against a
     * changed expectation, which would refuse every component's reload instead of letting
     * {@link Running#reload} say that a restart is needed.
     */
    @Override
    public Plan prepare() throws Exception {
        IdentityFiles files = opener.call();
        Optional<WorkloadIdentity> published = state.current();
        return new Plan(files, published.isPresent() ? published : files.startingPoint(), state, fileEvents);
    }

    /** The identity to start from (empty: enrol at the first step) and the files it is kept in. */
    public static final class Plan implements Prepared {
        private final IdentityFiles files;
        private final Optional<WorkloadIdentity> startingPoint;
        private final IdentityState state;
        private final FileEvents fileEvents;

        private Plan(IdentityFiles files, Optional<WorkloadIdentity> startingPoint, IdentityState state,
                     FileEvents fileEvents) {
            this.files = files;
            this.startingPoint = startingPoint;
            this.state = state;
            this.fileEvents = fileEvents;
        }

        public IdentityFiles files() {
            return files;
        }

        @Override
        public void describe(PrintWriter out) {
            IdentitySettings settings = files.settings();
            out.println("#   certificates: " + settings.outputCerts() + " (provisioned: " + settings.provisionedCerts()
                    + ")");
            if (startingPoint.isPresent()) {
                WorkloadIdentity identity = startingPoint.get();
                Instant[] window = settings.rotation().rotationWindow(identity.notBefore(), identity.notAfter());
                out.println("#   identity: " + identity + "; rotation " + RotationPolicy.describeWindow(window));
            } else {
                out.println("#   identity: none valid on disk; enrol with the token in "
                        + settings.tokenFile().orElseThrow());
            }
            out.println("#   CA: " + settings.ca() + "; " + settings.keySpec() + " keys, SECRET_TTL "
                    + ValueTypes.formatDuration(settings.secretTtl()));
        }

        @Override
        public Running start(ComponentContext context) throws IOException {
            files.output().ensureExists();
            Rotation rotation = new Rotation(this, context);
            rotation.start();
            return rotation;
        }
    }

    /** The running component: the rotator, its loop, and the watches on the certificate directories. */
    private static final class Rotation implements Running {
        private final ComponentContext context;
        private final Clock clock;
        private final IdentityState state;
        private final FileEvents fileEvents;
        private final Rotator rotator;
        /** Set by a file event, cleared by the step that reads the disk again. */
        private final AtomicBoolean diskChanged = new AtomicBoolean();
        private final List<FileEvents.Registration> registrations = new ArrayList<>();
        private final Set<Path> watchedBefore = new HashSet<>();
        private volatile IdentityFiles files;
        private volatile Loop loop;

        Rotation(Plan plan, ComponentContext context) {
            this.context = context;
            this.clock = context.clock();
            this.state = plan.state;
            this.fileEvents = plan.fileEvents;
            this.files = plan.files;
            IdentityFiles initial = plan.files;
            this.rotator = new Rotator(clock, initial.settings().rotation(), new SecureRandom(), state, initial::renew,
                    context.agent().metrics());
            plan.startingPoint.ifPresent(rotator::adopt);
        }

        void start() {
            if (state.current().isEmpty()) {
                context.status().starting("enrolling with the token in "
                        + files.settings().tokenFile().map(Path::toString).orElse("(none)"));
            } else {
                report();
            }
            watchDirectories();
            loop = context.startLoop(this::step);
        }

        private Instant step(Instant now) {
            watchDirectories();
            if (diskChanged.getAndSet(false)) {
                adoptFromDisk();
            }
            Instant next = rotator.tick();
            report();
            // Wake at expiry too, so that the state turns FAILED on time while a retry is still waiting.
            Optional<Instant> expiry = state.current().map(WorkloadIdentity::notAfter)
                    .filter(notAfter -> notAfter.isAfter(clock.instant()));
            return expiry.filter(notAfter -> notAfter.isBefore(next)).orElse(next);
        }

        /** A change in a certificate directory: note it and wake the loop, which reads the disk. */
        private void onFilesChanged(List<Path> changed) {
            diskChanged.set(true);
            Loop running = loop;
            if (running != null) {
                running.wake();
            }
        }

        /**
         * Watches the certificate directories that exist and are not watched yet: at start, and again after a
         * directory was removed and made anew. Changes made while a directory was not watched went unseen, so
         * the disk is read again then.
         */
        private synchronized void watchDirectories() {
            for (CertsDirectory dir : files.directories()) {
                Path path = dir.dir();
                if (fileEvents.watching(path) || !Files.isDirectory(path)) {
                    continue;
                }
                try {
                    registrations.add(fileEvents.watch(path, this::onFilesChanged));
                    if (!watchedBefore.add(path)) {
                        diskChanged.set(true);
                    }
                } catch (IOException e) {
                    LOG.warn("cannot watch {} for identities placed by hand: {}", path, e.toString());
                }
            }
        }

        /**
         * Adopts a valid identity found on disk that differs from the current one; ignores an invalid one. Envoy's
         * user may put anything there, so every failure is caught and reported here, an error the JVM survives
         * (out of memory, stack overflow) included: the loop must go on rotating the identity it holds.
         */
        private void adoptFromDisk() {
            Optional<WorkloadIdentity> current = state.current();
            try {
                WorkloadIdentity onDisk = files.load();
                if (!onDisk.sameLeafAs(current.orElse(null))) {
                    LOG.atInfo().addKeyValue("SPIFFE_ID", onDisk.spiffeId())
                            .addKeyValue("CERT_SERIAL", onDisk.serialHex())
                            .addKeyValue("CERT_NOT_AFTER", onDisk.notAfter())
                            .log("adopting the identity found on disk: {}", onDisk);
                    rotator.adopt(onDisk);
                }
                diskProblem = null;
            } catch (InvalidIdentityException e) {
                reportDiskProblem("certificate files changed but are not usable", current, e.getMessage());
            } catch (IOException | RuntimeException | OutOfMemoryError | StackOverflowError e) {
                reportDiskProblem("cannot read the certificate files", current, e.toString());
            }
        }

        private void reportDiskProblem(String what, Optional<WorkloadIdentity> current, String problem) {
            diskProblem = what + ": " + problem;
            LOG.warn("{}, keeping {}: {}", what, current.map(Object::toString).orElse("no identity"), problem);
        }

        /** The last problem reading the disk, until a read succeeds; part of the reported status. */
        private volatile String diskProblem;

        private String diskNote() {
            String problem = diskProblem;
            return problem == null ? "" : "; ignoring the files on disk (" + problem + ")";
        }

        private void report() {
            Instant now = clock.instant();
            Rotator.Status status = rotator.status();
            context.status().facts(facts(state.current(), status));
            String retry = status.failures() == 0 ? "" : "renewal failed " + status.failures()
                    + (status.failures() == 1 ? " time" : " times") + status.retryAt().map(at -> ", retrying at " + at)
                    .orElse("") + ": " + status.lastError().orElse("unknown error");
            Optional<WorkloadIdentity> current = state.current();
            if (current.isEmpty() || !current.get().isValidAt(now)) {
                String why = current.map(identity -> identity.notAfter().isAfter(now)
                                ? "the certificate is not valid before " + identity.notBefore()
                                : "the certificate expired at " + identity.notAfter())
                        .orElse("no workload identity yet");
                context.status().failed(why + (retry.isEmpty() ? "" : "; " + retry));
            } else if (status.failures() > 0) {
                context.status().degraded(retry + "; the certificate is valid until " + current.get().notAfter()
                        + diskNote());
            } else {
                context.status().ready(current.get().spiffeId() + " valid until " + current.get().notAfter()
                        + status.due().map(due -> ", rotation due at " + due).orElse("")
                        + files.caChosen().map(ca -> "; CA " + ca.protocol().method() + " at " + ca.address())
                        .orElse("") + diskNote());
            }
        }

        /**
         * What the identity holds, for STATUS=, /debug/status and the expiry metric: the SPIFFE id, serial and
         * validity of the current certificate, and when the rotation policy chose to renew it (or to retry).
         */
        static Map<String, String> facts(Optional<WorkloadIdentity> current, Rotator.Status status) {
            Map<String, String> facts = new LinkedHashMap<>();
            current.ifPresent(identity -> {
                facts.put("spiffe_id", identity.spiffeId().uri());
                facts.put("serial", identity.serialHex());
                facts.put("not_before", identity.notBefore().toString());
                facts.put("not_after", identity.notAfter().toString());
            });
            status.due().ifPresent(due -> facts.put("next_rotation", due.toString()));
            status.retryAt().ifPresent(at -> facts.put("retry_at", at.toString()));
            facts.put("failures", Integer.toString(status.failures()));
            return facts;
        }

        /**
         * New CA, TTL, key, rotation or ownership settings are used from the next rotation (a changed rotation
         * policy reschedules it). Other directories or another expected identity need a restart: the running
         * identity was loaded and validated under the old ones.
         */
        @Override
        public Reconciled reload(Prepared next) {
            if (!(next instanceof Plan plan)) {
                throw new IllegalArgumentException("not an identity plan: " + next);
            }
            IdentitySettings before = files.settings();
            IdentitySettings after = plan.files().settings();
            if (before.equals(after)) {
                return Reconciled.unchanged();
            }
            List<String> restart = new ArrayList<>();
            if (!before.directories().equals(after.directories())) {
                restart.add("OUTPUT_CERTS/PROV_CERT changed (" + before.directories() + " -> " + after.directories()
                        + ")");
            }
            if (!before.expectation().equals(after.expectation())) {
                restart.add("the expected identity (TRUST_DOMAIN, ISTIO_NAMESPACE, SERVICE_ACCOUNT) changed");
            }
            if (!restart.isEmpty()) {
                return Reconciled.unchanged().withRestartNeeded(String.join("; ", restart) + ": restart the agent "
                        + "to load the identity from there (no identity setting was applied)");
            }
            IdentityFiles reloaded = plan.files();
            files = reloaded;
            rotator.reconfigure(after.rotation(), reloaded::renew);
            Loop running = loop;
            if (running != null) {
                running.wake();
            }
            return Reconciled.changed(changes(before, after) + " used from the next rotation");
        }

        private static String changes(IdentitySettings before, IdentitySettings after) {
            List<String> changed = new ArrayList<>();
            if (!before.ca().equals(after.ca())) {
                changed.add("CA " + after.ca());
            }
            if (!before.secretTtl().equals(after.secretTtl())) {
                changed.add("SECRET_TTL " + ValueTypes.formatDuration(after.secretTtl()));
            }
            if (!before.rotation().equals(after.rotation())) {
                changed.add("rotation policy (rescheduled)");
            }
            if (!before.keySpec().equals(after.keySpec()) || before.pkcs8Key() != after.pkcs8Key()) {
                changed.add(after.keySpec() + (after.pkcs8Key() ? " PKCS#8" : "") + " keys");
            }
            if (!before.certsOwner().equals(after.certsOwner()) || !before.tokenFile().equals(after.tokenFile())) {
                changed.add("file owner or token file");
            }
            return String.join(", ", changed);
        }

        @Override
        public void stop() {
            Loop running = loop;
            if (running != null) {
                running.close();
            }
            synchronized (this) {
                registrations.forEach(FileEvents.Registration::close);
                registrations.clear();
            }
        }
    }
}
