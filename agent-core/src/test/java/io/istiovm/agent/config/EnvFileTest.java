package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EnvFileTest {
    private static final Path FILE = Path.of("/cfg/cluster.env");

    private static EnvFile parse(String text) {
        return EnvFile.parse(FILE, text.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> values(EnvFile file) {
        return file.assignments().stream().map(a -> a.key() + "=" + a.value() + "@" + a.source().line()).toList();
    }

    @Test
    void readsTheShellSubsetIstioWrites() {
        EnvFile file = parse("""
                # comment
                   # indented comment

                export ISTIO_CP_AUTH=MUTUAL_TLS
                ISTIO_SERVICE_CIDR='10.0.0.0/8,fd00::/8'   \t
                ISTIO_INBOUND_PORTS="8080,9090" # trailing comment
                TRUST_DOMAIN=cluster'.'"local"
                ISTIO_SERVICE=a#b
                EMPTY=
                EMPTY_QUOTED=''
                ISTIO_METAJSON_LABELS='{"app":"x","v":"1"}'
                ESCAPED="a\\"b\\\\c\\$d"
                BACKSLASH=a\\ b
                """);
        assertThat(file.problems()).isEmpty();
        assertThat(values(file)).containsExactly(
                "ISTIO_CP_AUTH=MUTUAL_TLS@4",
                "ISTIO_SERVICE_CIDR=10.0.0.0/8,fd00::/8@5",
                "ISTIO_INBOUND_PORTS=8080,9090@6",
                "TRUST_DOMAIN=cluster.local@7",
                "ISTIO_SERVICE=a#b@8",
                "EMPTY=@9",
                "EMPTY_QUOTED=@10",
                "ISTIO_METAJSON_LABELS={\"app\":\"x\",\"v\":\"1\"}@11",
                "ESCAPED=a\"b\\c$d@12",
                "BACKSLASH=a b@13");
    }

    @Test
    void crlfLineEndsAndMissingFinalNewline() {
        EnvFile file = parse("A=1\r\nB='two'\r\nC=3");
        assertThat(file.problems()).isEmpty();
        assertThat(values(file)).containsExactly("A=1@1", "B=two@2", "C=3@3");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "A = 1|spaces around '=' are not allowed in a shell assignment; write A=VALUE",
        "A=1 2|unquoted space in the value: the shell would run '2' as a command; quote the whole value",
        "A='1|unterminated single quote (opened at column 3); a value cannot span lines",
        "A=\"1|unterminated double quote (opened at column 3); a value cannot span lines",
        "A=$HOME|'$' at column 3: variable expansion is not supported; write the value out, or quote it in "
                + "single quotes",
        "A=\"$HOME\"|'$' at column 4: variable expansion is not supported; write the value out, or escape it as \\$",
        "A=`id`|'`' at column 3: command substitution is not supported",
        "A=1;B=2|shell operator ';' at column 4 is not supported; one assignment per line, quote the value if ';' is "
                + "part of it",
        "A=1\\|a trailing backslash (line continuation) is not supported; put the value on one line",
        "export|'export' without an assignment",
        "export A|'A' has no '=value'; write A=VALUE",
        "A-B=1|'-' at column 2 is not allowed in a key name (letters, digits and _ only)",
        "1A=x|expected KEY=value, found 1 at column 1",
    })
    void refusesWhatAShellWouldExecute(String line, String reason) {
        EnvFile file = parse("# first\n" + line + "\n");
        assertThat(file.assignments()).isEmpty();
        assertThat(file.problems()).singleElement().satisfies(p -> {
            assertThat(p.source()).isEqualTo(new Source.FileLine(FILE, 2));
            assertThat(p.reason()).isEqualTo(reason);
        });
    }

    @Test
    void controlCharactersAreRefusedHoweverTheyAreWritten() {
        Map<String, String> lines = new java.util.LinkedHashMap<>();
        lines.put("A=x\\\u001by", "control character 0x1b at column 5 (escaped with '\\') is not allowed");
        lines.put("A=\"x\u001by\"", "control character 0x1b at column 5 is not allowed");
        lines.put("A='x\u0085y'", "control character 0x85 at column 5 is not allowed");
        lines.put("A=x\u2028y", "control character U+2028 at column 4 is not allowed");
        lines.put("A=x\\\ry", "control character 0x0d at column 5 (escaped with '\\') is not allowed");
        lines.forEach((line, reason) -> {
            EnvFile file = parse(line + "\n");
            assertThat(file.assignments()).as(line).isEmpty();
            assertThat(file.problems()).as(line).singleElement().extracting(ConfigProblem::reason).isEqualTo(reason);
            assertThat(file.problems().get(0).render()).as("rendered without raw control characters")
                    .doesNotContain("\u001b", "\u0085", "\u2028", "\r");
        });
    }

    @Test
    void duplicateKeyNamesBothLines() {
        EnvFile file = parse("A=1\nB=2\nA=3\n");
        assertThat(file.problems()).singleElement()
                .extracting(ConfigProblem::render)
                .isEqualTo("error: /cfg/cluster.env:3: A='3': set again; already set on line 1 of this file");
    }

    @Test
    void binaryAndEncodingProblemsStopAtTheFirst() {
        byte[] nul = "A=1\nB=\0\0\nC=\0".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(EnvFile.parse(FILE, nul).problems()).singleElement().extracting(ConfigProblem::render)
                .isEqualTo("error: /cfg/cluster.env:2: contains a NUL byte: this is a binary file, not a shell "
                        + "environment file");
        byte[] latin1 = "A=1\nB=caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(EnvFile.parse(FILE, latin1).problems()).singleElement().extracting(ConfigProblem::render)
                .isEqualTo("error: /cfg/cluster.env:2: is not valid UTF-8 text");
    }

    @Test
    void utf8TextIsFine() {
        assertThat(values(parse("ISTIO_META_OWNER='Zoë'\n"))).containsExactly("ISTIO_META_OWNER=Zoë@1");
    }

    @Test
    void commentOnlyFileIsValidButEmptyIsNot() {
        assertThat(parse("# nothing to set\n").problems()).isEmpty();
        assertThat(parse(" \n\n").problems()).singleElement().extracting(ConfigProblem::render).isEqualTo(
                "error: /cfg/cluster.env: is empty; an empty configuration file is most likely a failed copy. "
                        + "To run on defaults, put a comment line in it");
    }
}
