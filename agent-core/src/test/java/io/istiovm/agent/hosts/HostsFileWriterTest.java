package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HostsFileWriterTest {
    private final HostsFileWriter writer = new HostsFileWriter();
    private HostsScratch scratch;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
    }

    @AfterEach
    void tearDown() throws IOException {
        scratch.close();
    }

    @Test
    void replacingKeepsModeOwnerAndExtendedAttributes() throws IOException {
        Path target = scratch.target();
        UserPrincipalLookupService users = target.getFileSystem().getUserPrincipalLookupService();
        PosixFileAttributeView posix = Files.getFileAttributeView(target, PosixFileAttributeView.class);
        posix.setOwner(users.lookupPrincipalByName("nobody"));
        posix.setGroup(users.lookupPrincipalByGroupName("nogroup"));
        posix.setPermissions(PosixFilePermissions.fromString("rw-r-----"));
        UserDefinedFileAttributeView xattrs = Files.getFileAttributeView(target, UserDefinedFileAttributeView.class);
        xattrs.write("agent.test", ByteBuffer.wrap("kept".getBytes(StandardCharsets.UTF_8)));
        // A namespace Java's own view cannot see; stands in for security.selinux on hosts without SELinux.
        ExtendedAttributes.set(target, "trusted.agent-test", "label\0".getBytes(StandardCharsets.UTF_8));
        Object inode = Files.readAttributes(target, "unix:ino").get("ino");

        assertThat(writer.write(target, "new\n".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(HostsFileWriter.Method.RENAMED);

        assertThat(Files.readString(target)).isEqualTo("new\n");
        assertThat(Files.readAttributes(target, "unix:ino").get("ino")).as("replaced, not rewritten").isNotEqualTo(inode);
        assertThat(Files.getOwner(target).getName()).isEqualTo("nobody");
        assertThat(posix.readAttributes().group().getName()).isEqualTo("nogroup");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target))).isEqualTo("rw-r-----");
        ByteBuffer value = ByteBuffer.allocate(16);
        Files.getFileAttributeView(target, UserDefinedFileAttributeView.class).read("agent.test", value);
        assertThat(new String(value.array(), 0, value.position(), StandardCharsets.UTF_8)).isEqualTo("kept");
        assertThat(ExtendedAttributes.names(target)).contains("user.agent.test", "trusted.agent-test");
        assertThat(ExtendedAttributes.get(target, "trusted.agent-test")).isEqualTo("label\0".getBytes(StandardCharsets.UTF_8));
        try (var leftovers = Files.list(target.getParent())) {
            assertThat(leftovers).containsExactlyInAnyOrder(target,
                    target.resolveSibling(".hosts.istio-vm-agent.lock"));
        }
    }

    @Test
    void aSymbolicLinkStaysAndItsTargetIsReplaced() throws IOException {
        Path real = Files.createDirectories(scratch.root().resolve("real")).resolve("hosts");
        Files.writeString(real, "old\n");
        Files.delete(scratch.target());
        Files.createSymbolicLink(scratch.target(), real);

        writer.write(scratch.target(), "new\n".getBytes(StandardCharsets.UTF_8));

        assertThat(Files.isSymbolicLink(scratch.target())).isTrue();
        assertThat(Files.readString(real)).isEqualTo("new\n");
    }

    @Test
    void aMissingFileIsCreatedWithTheModeOfAFreshHostsFile() throws IOException {
        Files.delete(scratch.target());
        writer.write(scratch.target(), "new\n".getBytes(StandardCharsets.UTF_8));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(scratch.target())))
                .isEqualTo("rw-r--r--");
    }

    @Test
    void aStalePlanIsNotWritten() throws IOException {
        byte[] before = scratch.targetBytes();
        assertThat(writer.write(scratch.target(), "what the plan saw".getBytes(StandardCharsets.UTF_8),
                "new\n".getBytes(StandardCharsets.UTF_8))).isEqualTo(HostsFileWriter.Method.STALE);
        assertThat(scratch.targetBytes()).isEqualTo(before);
    }

    @Test
    void aFileEditedUnderThePlanIsPlannedAgainAndTheEditKept() throws Exception {
        HostsSettings settings = HostsSettings.sourcesOnly(scratch.config(), scratch.target(), Duration.ofMinutes(1));
        scratch.hostsSource("127.255.0.9 planned.global\n");
        HostsPlan first = HostsPlanner.apply(settings);
        Files.writeString(scratch.target(), "10.1.1.1 edited-meanwhile\n");
        List<HostsPlan> replans = new ArrayList<>();

        HostsFileWriter.Written written = writer.write(first, () -> {
            replans.add(HostsPlanner.apply(settings));
            return replans.get(replans.size() - 1);
        });

        assertThat(replans).hasSize(1);
        assertThat(written).isEqualTo(new HostsFileWriter.Written(replans.get(0), HostsFileWriter.Method.RENAMED));
        assertThat(scratch.targetText()).contains("127.255.0.9 planned.global ").endsWith("10.1.1.1 edited-meanwhile\n");
    }

    @Test
    void aFileThatChangesUnderEveryPlanIsLeftAsTheOtherWriterMadeIt() throws Exception {
        HostsSettings settings = HostsSettings.sourcesOnly(scratch.config(), scratch.target(), Duration.ofMinutes(1));
        scratch.hostsSource("127.255.0.9 planned.global\n");
        AtomicInteger plans = new AtomicInteger();
        HostsFileWriter.Planner racing = () -> {
            HostsPlan plan = HostsPlanner.apply(settings);
            Files.writeString(scratch.target(), "10.1.1.1 other-writer-" + plans.incrementAndGet() + "\n");
            return plan;
        };

        assertThatThrownBy(() -> writer.write(racing)).isInstanceOf(HostsFileWriter.StaleException.class)
                .hasMessage(scratch.target() + ": changed by someone else during each of 5 attempts to write it; "
                        + "nothing written");

        assertThat(plans).hasValue(HostsFileWriter.STALE_ATTEMPTS);
        assertThat(scratch.targetText()).isEqualTo("10.1.1.1 other-writer-5\n");
    }

    @Test
    void recoveryFinishesAnInterruptedInPlaceRewriteAndDropsPartialTemporaryFiles() throws IOException {
        Path target = scratch.target();
        Files.writeString(HostsFileWriter.journal(target), "complete new content\n");
        Files.writeString(target, "complete new conOLD TAIL OF THE OLD CONTENT\n");
        Path partial = target.resolveSibling(".hosts.istio-vm-agent.123.tmp");
        Files.writeString(partial, "half");

        assertThat(writer.recover(target)).isTrue();

        assertThat(Files.readString(target)).isEqualTo("complete new content\n");
        assertThat(HostsFileWriter.journal(target)).doesNotExist();
        assertThat(partial).doesNotExist();
        assertThat(writer.recover(target)).isFalse();
    }
}
