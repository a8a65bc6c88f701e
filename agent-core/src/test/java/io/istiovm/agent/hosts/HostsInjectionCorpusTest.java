package io.istiovm.agent.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.istiovm.agent.config.IpAddresses;
import io.istiovm.agent.config.Source;
import io.istiovm.agent.testing.CliRun;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 10 item 8: text that would add a line to the hosts file, or bytes that are not UTF-8, in every place a
 * source can put them (ServiceEntry names, namespaces, hosts and addresses; hosts-format names and addresses;
 * hosts.d file names; the hosts file itself). The cases are in {@code hosts-injection/corpus.txt}; each runs
 * through the real command line ({@code hosts plan}, {@code hosts apply}) against a hosts file that already holds a
 * block, and must end with exit 78, the exact message (file, line, key) and the file byte-identical.
 */
class HostsInjectionCorpusTest {
    private static final Pattern ESCAPE = Pattern.compile("\\{U\\+([0-9A-F]{4,6})}|\\{0x([0-9A-F]{2})}");

    private HostsScratch scratch;

    @BeforeEach
    void setUp() throws IOException {
        scratch = HostsScratch.create();
        scratch.clusterEnv("VM_AGENT_GATEWAY_ADDRESS=192.168.99.1");
        scratch.dropIn("httpbin-bar-forvms.yaml", HostsGoldenTest.manifest("httpbin-bar-forvms.yaml"));
        assertThat(scratch.cli("hosts", "apply").exitCode()).isZero();
    }

    @AfterEach
    void tearDown() throws IOException {
        scratch.close();
    }

    /** One case of the corpus: the files it writes (path to bytes) and the expected message. */
    record Case(String title, Map<String, byte[]> files, String expected) {
        @Override
        public String toString() {
            return title;
        }
    }

    static Stream<Arguments> corpus() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        String title = null;
        String section = null;
        Map<String, byte[]> files = new LinkedHashMap<>();
        StringBuilder text = new StringBuilder();
        for (String line : corpusText().split("\n", -1)) {
            if (line.startsWith("=== ") || line.startsWith("--- ")) {
                if (section != null) {
                    if (section.equals("expect")) {
                        cases.add(Arguments.of(new Case(title, files, decode(text.toString().strip()))));
                        files = new LinkedHashMap<>();
                    } else {
                        files.put(new String(bytes(section), StandardCharsets.UTF_8), bytes(text.toString()));
                    }
                }
                text.setLength(0);
                if (line.startsWith("=== ")) {
                    title = line.substring(4);
                    section = null;
                } else {
                    section = line.substring(4);
                }
            } else if (section != null) {
                text.append(line).append('\n');
            }
        }
        if ("expect".equals(section)) {
            cases.add(Arguments.of(new Case(title, files, decode(text.toString().strip()))));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corpus")
    void refusedWithTheExactMessageAndTheFileByteIdentical(Case input) throws Exception {
        for (Map.Entry<String, byte[]> file : input.files().entrySet()) {
            Path path = file.getKey().equals("target") ? scratch.target() : scratch.config().resolve(file.getKey());
            Files.createDirectories(path.getParent());
            Files.write(path, file.getValue());
        }
        HostsBadInputTest.assertRefused(scratch, input.expected());
    }

    @Test
    void textOutsideTheBlockStaysUtf8AndTheBlockIsAscii() throws IOException {
        byte[] written = scratch.targetBytes();
        String text = new String(written, StandardCharsets.UTF_8);
        assertThat(text.getBytes(StandardCharsets.UTF_8)).isEqualTo(written);
        assertThat(text).endsWith(HostsScratch.TYPICAL_HOSTS);
        String block = text.substring(0, text.indexOf(HostsBlock.END_PREFIX));
        assertThat(block.chars()).allMatch(c -> c == '\n' || c >= 0x20 && c < 0x7f);
    }

    @Test
    void planShowsControlCharactersOfAHandEditedBlockAsEscapes() throws IOException {
        String edited = scratch.targetText().replace("127.255.0.3 httpbin.bar.global #",
                "127.255.0.3 httpbin.bar.global \u001b[2J\u0007 #");
        Files.writeString(scratch.target(), edited);

        CliRun plan = scratch.cli("hosts", "plan");

        assertThat(plan.exitCode()).as(plan.toString()).isZero();
        assertThat(plan.out()).contains("- 127.255.0.3 httpbin.bar.global \\x1b[2J\\x07 # ServiceEntry")
                .doesNotContain("\u001b", "\u0007");
    }

    @Test
    void theLastGuardRefusesWhatNoSourceShouldHaveLetThrough() throws Exception {
        Source source = new Source.FileLine(Path.of("/c/hosts.d/a.hosts"), 1);
        assertThatThrownBy(() -> new HostsEntry("a.global", IpAddresses.parse("10.0.0.1"), source,
                "ServiceEntry x\n10.66.66.66 istiod.istio-system.svc\n#"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("comment 'ServiceEntry x\\x0a10.66.66.66 istiod.istio-system.svc\\x0a#' contains the "
                        + "control character \\x0a at position 15; it would go into the hosts file");
        assertThatThrownBy(() -> new HostsEntry("a\nb", IpAddresses.parse("10.0.0.1"), source, "a.hosts:1"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new HostsBlock.Line(IpAddresses.parse("10.0.0.1"), List.of("ok.global"),
                List.of("caf\u00e9"))).isInstanceOf(IllegalArgumentException.class);
    }

    private static String corpusText() throws IOException {
        try (InputStream in = HostsInjectionCorpusTest.class.getResourceAsStream("/hosts-injection/corpus.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The bytes {@code text} stands for: {U+XXXX} as that character in UTF-8, {0xNN} as that raw byte. */
    private static byte[] bytes(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Matcher matcher = ESCAPE.matcher(text);
        int last = 0;
        while (matcher.find()) {
            out.writeBytes(text.substring(last, matcher.start()).getBytes(StandardCharsets.UTF_8));
            if (matcher.group(1) != null) {
                out.writeBytes(Character.toString(Integer.parseInt(matcher.group(1), 16))
                        .getBytes(StandardCharsets.UTF_8));
            } else {
                out.write(Integer.parseInt(matcher.group(2), 16));
            }
            last = matcher.end();
        }
        out.writeBytes(text.substring(last).getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    private static String decode(String text) {
        return new String(bytes(text), StandardCharsets.UTF_8);
    }
}
