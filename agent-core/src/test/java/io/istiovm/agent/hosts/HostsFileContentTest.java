package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.ConfigException;
import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class HostsFileContentTest {
    private static final Path FILE = Path.of("/scratch/hosts");

    private static HostsBlock block(String name, String address) throws Exception {
        return HostsBlock.of(List.of(new HostsEntry(name, IpAddresses.parse(address),
                new Source.FileLine(Path.of("/c/hosts.d/a.hosts"), 1), "a.hosts:1")));
    }

    private static HostsFileContent parse(String text) throws ConfigException {
        return HostsFileContent.parse(FILE, text.getBytes(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "\n", "127.0.0.1 localhost", "127.0.0.1\tlocalhost\r\n::1\tlocalhost\r\n",
        "# only a comment, no newline", "\r\n\r\n", "fe80::1%eth0 odd-but-not-ours\n", "caf\u00e9 \u00ff\u0000 bytes\n"})
    void applyThenCleanGivesBackEveryByte(String original) throws Exception {
        byte[] applied = parse(original).withBlock(block("httpbin.bar.global", "127.255.0.3"));
        String text = new String(applied, StandardCharsets.UTF_8);
        assertThat(text).startsWith(HostsBlock.BEGIN + "\n127.255.0.3 httpbin.bar.global # a.hosts:1\n"
                + HostsBlock.END + "\n").endsWith(original);
        assertThat(HostsFileContent.parse(FILE, applied).withoutBlock())
                .isEqualTo(original.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aBlockMovedByHandIsReplacedWhereItIs() throws Exception {
        String before = "127.0.0.1 localhost\n" + HostsBlock.BEGIN_PREFIX + " old text\r\n10.0.0.1 stale.global\n"
                + HostsBlock.END + "\r\n# tail";
        byte[] after = parse(before).withBlock(block("fresh.global", "10.0.0.2"));
        assertThat(new String(after, StandardCharsets.UTF_8)).isEqualTo("127.0.0.1 localhost\n"
                + HostsBlock.BEGIN + "\n10.0.0.2 fresh.global # a.hosts:1\n" + HostsBlock.END + "\n# tail");
    }

    @Test
    void anEmptyBlockRemovesTheMarkers() throws Exception {
        String withBlock = HostsBlock.BEGIN + "\n10.0.0.1 a\n" + HostsBlock.END + "\nrest\n";
        assertThat(parse(withBlock).withBlock(HostsBlock.empty()))
                .isEqualTo("rest\n".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void damagedMarkersAreRefusedWithTheirLine() {
        assertThatThrownBy(() -> parse("a\n" + HostsBlock.END + "\n"))
                .hasMessage("error: /scratch/hosts:2: END marker of the istio-vm-agent block without a BEGIN marker "
                        + "before it; the block was edited by hand: delete this line or restore the BEGIN line");
        assertThatThrownBy(() -> parse(HostsBlock.BEGIN + "\n" + HostsBlock.END + "\nx\n" + HostsBlock.BEGIN
                + "\n" + HostsBlock.END + "\n"))
                .hasMessage("error: /scratch/hosts:4: a second istio-vm-agent block begins here (the first begins at "
                        + "line 1); delete one of them by hand");
    }

    @Test
    void namesMappedOutsideTheBlockToAnotherAddressAreWarnings() throws Exception {
        HostsBlock block = block("httpbin.bar.global", "127.255.0.3");
        HostsFileContent content = HostsFileContent.parse(FILE, parse("10.0.0.9 HTTPBIN.bar.global\n"
                + "127.255.0.3 httpbin.bar.global\nfd00::1 httpbin.bar.global\nnot-an-ip httpbin.bar.global\n")
                .withBlock(block));
        assertThat(content.conflictsOutside(block)).extracting(Object::toString).containsExactly(
                "warning: /scratch/hosts:4: HTTPBIN.bar.global is also mapped to 10.0.0.9 here, outside the "
                        + "istio-vm-agent block, which maps it to 127.255.0.3 (a.hosts:1); resolvers may answer "
                        + "either, remove this line");
    }
}
