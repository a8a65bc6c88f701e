package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** The pure assessment, over a table of lstat results: which paths are flawed, and the exact fix of each. */
class FileTrustTest {
    private static final int DIR = 0040000;
    private static final int FILE = 0100000;
    private static final int LINK = 0120000;
    private static final Accounts ACCOUNTS = Accounts.of(
            List.of(new Accounts.Account("root", 0, 0), new Accounts.Account("istio-proxy", 1337, 1337)),
            Map.of(0L, "root", 1337L, "istio-proxy"));

    private final Map<Path, FileTrust.Status> table = new HashMap<>();
    private final Map<Path, Path> links = new HashMap<>();
    private final FileTrust.Inspector inspector = new FileTrust.Inspector() {
        @Override
        public Optional<FileTrust.Status> lstat(Path path) {
            return Optional.ofNullable(table.get(path));
        }

        @Override
        public Path readLink(Path link) {
            return links.get(link);
        }
    };

    FileTrustTest() {
        put("/", 0, DIR | 0755);
        put("/var", 0, DIR | 0755);
        put("/var/lib", 0, DIR | 0755);
        put("/var/lib/istio", 0, DIR | 0755);
        put("/var/lib/istio/envoy", 0, DIR | 0755);
        put("/var/lib/istio/envoy/cluster.env", 0, FILE | 0644);
        put("/tmp", 0, DIR | 01777);
    }

    private void put(String path, long uid, int mode) {
        table.put(Path.of(path), new FileTrust.Status(uid, uid, mode));
    }

    private FileTrust.Verdict assess(String path) throws Exception {
        return FileTrust.assess(Path.of(path), inspector);
    }

    @Test
    void aRootOwnedChainHasNoFlaw() throws Exception {
        assertThat(assess("/var/lib/istio/envoy/cluster.env").rootOnly()).isTrue();
    }

    @Test
    void aGroupWritableFileIsNamedWithItsFix() throws Exception {
        put("/var/lib/istio/envoy/cluster.env", 0, FILE | 0664);
        FileTrust.Verdict verdict = assess("/var/lib/istio/envoy/cluster.env");
        assertThat(verdict.explain(ACCOUNTS)).isEqualTo("/var/lib/istio/envoy/cluster.env is writable by its group: "
                + "owned by root (uid 0), group root (gid 0), mode 0664 (fix: chmod g-w "
                + "/var/lib/istio/envoy/cluster.env)");
        assertThat(verdict.soleOtherWriter()).isEmpty();
    }

    @Test
    void theGuidesChownMakesEnvoysUserTheSoleOtherWriter() throws Exception {
        put("/var/lib/istio/envoy", 1337, DIR | 0755);
        put("/var/lib/istio/envoy/cluster.env", 1337, FILE | 0644);
        FileTrust.Verdict verdict = assess("/var/lib/istio/envoy/cluster.env");
        assertThat(verdict.soleOtherWriter()).isEqualTo(OptionalLong.of(1337));
        assertThat(verdict.explain(ACCOUNTS)).isEqualTo("/var/lib/istio/envoy/cluster.env is owned by istio-proxy "
                + "(uid 1337), group istio-proxy (gid 1337), mode 0644; /var/lib/istio/envoy (directory) is owned by "
                + "istio-proxy (uid 1337), group istio-proxy (gid 1337), mode 0755 (fix: chown root "
                + "/var/lib/istio/envoy/cluster.env && chown root /var/lib/istio/envoy)");
    }

    @Test
    void twoDifferentOwnersAreNoSoleWriter() throws Exception {
        put("/var/lib/istio/envoy", 1337, DIR | 0755);
        put("/var/lib/istio/envoy/cluster.env", 1000, FILE | 0644);
        assertThat(assess("/var/lib/istio/envoy/cluster.env").soleOtherWriter()).isEmpty();
    }

    @Test
    void aRootDirectoryInStickyTmpIsSafeButAFileDirectlyInItIsNot() throws Exception {
        put("/tmp/junit1", 0, DIR | 0700);
        put("/tmp/junit1/cluster.env", 0, FILE | 0644);
        put("/tmp/override.json", 0, FILE | 0644);
        assertThat(assess("/tmp/junit1/cluster.env").rootOnly()).isTrue();
        assertThat(assess("/tmp/override.json").explain(ACCOUNTS)).isEqualTo("/tmp (directory) is a directory every "
                + "user can create names in: owned by root (uid 0), group root (gid 0), mode 1777 (fix: move "
                + "override.json out of /tmp into a directory only root can write (install -d -o root -m 0755 DIR; "
                + "install -o root -m 0644 /tmp/override.json DIR/))");
    }

    @Test
    void aWorldWritableDirectoryWithoutStickyBitIsFlawed() throws Exception {
        put("/var/lib/istio", 0, DIR | 0757);
        assertThat(assess("/var/lib/istio/envoy/cluster.env").flaws()).extracting(FileTrust.Flaw::kind)
                .containsExactly(FileTrust.Kind.OTHER_WRITABLE);
    }

    @Test
    void aLinkIsAssessedWhereItLeads() throws Exception {
        put("/usr", 0, DIR | 0755);
        put("/usr/local", 0, DIR | 0755);
        put("/usr/local/bin", 0, DIR | 0755);
        put("/usr/local/bin/envoy", 0, LINK | 0777);
        links.put(Path.of("/usr/local/bin/envoy"), Path.of("../../../var/lib/istio/envoy/envoy"));
        put("/var/lib/istio/envoy", 1337, DIR | 0755);
        put("/var/lib/istio/envoy/envoy", 0, FILE | 0755);
        assertThat(assess("/usr/local/bin/envoy").flaws()).extracting(f -> f.path().toString())
                .containsExactly("/var/lib/istio/envoy");
    }

    @Test
    void aLinkLoopEndsTheWalkWithoutFailing() throws Exception {
        put("/var/lib/istio/envoy/a", 0, LINK | 0777);
        links.put(Path.of("/var/lib/istio/envoy/a"), Path.of("a"));
        assertThat(assess("/var/lib/istio/envoy/a").rootOnly()).isTrue();
    }

    @Test
    void aMissingFileIsAssessedByTheDirectoriesThatWouldHoldIt() throws Exception {
        assertThat(assess("/tmp/nothing-yet").flaws()).extracting(FileTrust.Flaw::kind)
                .containsExactly(FileTrust.Kind.SHARED_DIRECTORY);
    }
}
