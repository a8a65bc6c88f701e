package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;

import io.istiovm.agent.cli.ExitCodes;
import io.istiovm.agent.testing.CliRun;
import io.istiovm.agent.testing.HostileUser;
import io.istiovm.agent.testing.VictimFile;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Entries another user planted where the agent reads and writes the hosts file and its sources (what a user who can
 * write the hosts file's directory, or a source directory, could plant): links owned by the hostile user (uid 1337)
 * at the hosts file, at the lock file, the journal and a temporary name, at a source; a FIFO as the hosts file or
 * the lock; an oversized sparse hosts file. Each is refused with the exact message and exit code, or left alone,
 * and every victim is byte-identical with the same mode and owner afterwards; a FIFO never stalls the agent (the
 * timeout fails a hang rather than waiting for it).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostsFileHostileTest {
    private HostsScratch scratch;
    private VictimFile secret;
    private VictimFile directory;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        secret = VictimFile.secretFile(scratch.root().resolve("victim/shadow"));
        directory = VictimFile.directory(scratch.root().resolve("victim-dir"));
    }

    @AfterEach
    void tearDown() throws IOException {
        secret.assertUntouched();
        directory.assertUntouched();
        scratch.close();
    }

    @Test
    void aLinkAnotherUserPlantedAtTheHostsFileIsNotFollowed() throws IOException {
        Files.delete(scratch.target());
        Files.createSymbolicLink(scratch.target(), secret.path());
        HostileUser.own(scratch.target());

        CliRun apply = scratch.cli("hosts", "apply");

        assertThat(apply.err()).isEqualTo("hosts block not written; " + scratch.target() + " is unchanged:\n"
                + "error: " + scratch.target() + ": is a symbolic link owned by uid 1337; only links owned by root are "
                + "followed (replace it with the file, or have root create the link)\n");
        assertThat(apply.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        assertThat(Files.readSymbolicLink(scratch.target())).isEqualTo(secret.path());
    }

    @Test
    void aFifoAsTheHostsFileIsRefusedWithoutBlocking() throws Exception {
        Files.delete(scratch.target());
        mkfifo(scratch.target());

        CliRun plan = scratch.cli("hosts", "plan");
        CliRun apply = scratch.cli("hosts", "apply");

        String refused = "error: " + scratch.target() + ": is not a regular file (a FIFO); refusing to read it\n";
        assertThat(plan.err()).isEqualTo(refused);
        assertThat(plan.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        assertThat(apply.err()).endsWith(refused);
        assertThat(apply.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
    }

    @Test
    void aLinkOrFifoAtTheLockFileIsNeitherFollowedNorWaitedOn() throws Exception {
        byte[] before = scratch.targetBytes();
        Path lock = scratch.target().resolveSibling(".hosts.istio-vm-agent.lock");
        Files.createSymbolicLink(lock, directory.path().resolve("created-by-root"));
        HostileUser.own(lock);

        CliRun linked = scratch.cli("hosts", "apply");

        assertThat(linked.err()).endsWith("error: " + lock + ": is a symbolic link; refusing to follow it\n");
        assertThat(linked.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        Files.delete(lock);
        mkfifo(lock);

        CliRun fifo = scratch.cli("hosts", "apply");

        assertThat(fifo.err()).endsWith("error: " + lock + ": is not a regular file; refusing to open it\n");
        assertThat(fifo.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        assertThat(scratch.targetBytes()).isEqualTo(before);
    }

    @Test
    void aJournalAnotherUserPlantedIsNotReplayed() throws IOException {
        byte[] before = scratch.targetBytes();
        Path journal = scratch.target().resolveSibling(".hosts.istio-vm-agent.journal");
        Files.createSymbolicLink(journal, secret.path());
        HostileUser.own(journal);

        CliRun linked = scratch.cli("hosts", "apply");

        assertThat(linked.err()).endsWith("error: " + journal + ": is a symbolic link; refusing to follow it\n");
        assertThat(linked.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        Files.delete(journal);
        Files.writeString(journal, "10.66.66.66 istiod.istio-system.svc\n");
        HostileUser.own(journal);

        CliRun owned = scratch.cli("hosts", "apply");

        assertThat(owned.err()).endsWith("error: " + journal + ": is owned by uid 1337, not by the agent; refusing "
                + "to copy it into " + scratch.target() + " (remove it)\n");
        assertThat(owned.exitCode()).isEqualTo(ExitCodes.IO_ERROR);
        assertThat(scratch.targetBytes()).isEqualTo(before);
    }

    @Test
    void onlyTheAgentsOwnTemporaryFilesAreCleanedUp() throws IOException {
        Path planted = scratch.target().resolveSibling(".hosts.istio-vm-agent.planted.tmp");
        Files.createSymbolicLink(planted, directory.path().resolve("one"));
        HostileUser.own(planted);
        Path plantedFile = scratch.target().resolveSibling(".hosts.istio-vm-agent.theirs.tmp");
        Files.writeString(plantedFile, "theirs\n");
        HostileUser.own(plantedFile);
        Path ours = scratch.target().resolveSibling(".hosts.istio-vm-agent.0123456789abcdef.tmp");
        Files.writeString(ours, "partial\n");

        CliRun apply = scratch.cli("hosts", "apply");

        assertThat(apply.exitCode()).as(apply.toString()).isZero();
        assertThat(ours).doesNotExist();
        assertThat(Files.isSymbolicLink(planted)).isTrue();
        assertThat(plantedFile).hasContent("theirs");
    }

    @Test
    void aSourceLinkAnotherUserPlantedIsNotFollowedAndNothingOfItsTargetIsShown() throws IOException {
        byte[] before = scratch.targetBytes();
        Path link = Files.createDirectories(scratch.dropIns()).resolve("stolen.hosts");
        Files.createSymbolicLink(link, secret.path());
        HostileUser.own(link);

        CliRun plan = scratch.cli("hosts", "plan");

        assertThat(plan.err()).isEqualTo("error: " + link + ": is a symbolic link owned by uid 1337; only links "
                + "owned by root are followed (replace it with the file, or have root create the link)\n"
                + "configuration is invalid: 1 error\n");
        assertThat(plan.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(scratch.targetBytes()).isEqualTo(before);
    }

    @Test
    void aSparseHostsFileOfFourGigabytesIsRefusedBeforeItIsRead() throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(scratch.target().toFile(), "rw")) {
            file.setLength(4L << 30);
        }

        CliRun plan = scratch.cli("hosts", "plan");

        assertThat(plan.err()).isEqualTo("error: " + scratch.target() + ": is 4294967296 bytes, larger than 8388608 "
                + "(8 MiB); refusing to rewrite it\nconfiguration is invalid: 1 error\n");
        assertThat(plan.exitCode()).isEqualTo(ExitCodes.CONFIG);
        assertThat(Files.size(scratch.target())).isEqualTo(4L << 30);
    }

    private static void mkfifo(Path path) throws IOException {
        try {
            assertThat(new ProcessBuilder("mkfifo", path.toString()).inheritIO().start().waitFor()).isZero();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
