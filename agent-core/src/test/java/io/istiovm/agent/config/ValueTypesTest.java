package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ValueTypesTest {

    @Test
    void cidrListAcceptsBothFamiliesAndNormalisesHostBits() throws Exception {
        CidrList list = ValueTypes.cidrList(true).parse("10.1.2.3/8, fd00::1/8,192.168.0.7");
        assertThat(list.toString()).isEqualTo("10.0.0.0/8,fd00::/8,192.168.0.7/32");
        assertThat(list.ipv4()).hasSize(2);
        assertThat(list.ipv6()).hasSize(1);
        assertThat(ValueTypes.cidrList(true).parse("*").isAll()).isTrue();
        assertThat(ValueTypes.cidrList(true).parse("").isEmpty()).isTrue();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "10.0.0.0/33|'10.0.0.0/33': prefix length 33 is out of range for IPv4 (0-32)",
        "fd00::/129|'fd00::/129': prefix length 129 is out of range for IPv6 (0-128)",
        "10.0.0.256/8|'10.0.0.256': octet 256 is larger than 255",
        "10.0.0/8|'10.0.0' is not an IPv4 or IPv6 address",
        "10.0.0.0/x|'10.0.0.0/x': prefix length 'x' is not a number",
        "example.com/8|'example.com' is not an IPv4 or IPv6 address",
        "10.0.0.0/8,,10.1.0.0/16|item 2 of the list is empty (stray comma?)",
        "*,10.0.0.0/8|'*' cannot be combined with other networks",
    })
    void cidrListRejects(String raw, String reason) {
        assertThatThrownBy(() -> ValueTypes.cidrList(true).parse(raw)).hasMessage(reason);
    }

    @Test
    void excludeListsRefuseStar() {
        assertThatThrownBy(() -> ValueTypes.cidrList(false).parse("*"))
                .hasMessage("'*' is not allowed here; list the networks");
        assertThatThrownBy(() -> ValueTypes.portList(false).parse("*"))
                .hasMessage("'*' is not allowed here; list the ports");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "0|port 0 is out of range (1-65535)",
        "70000|port 70000 is out of range (1-65535)",
        "80a|'80a' is not a port number",
        "8000-8010|'8000-8010': port ranges are not supported; list each port",
        "*,22|'*' cannot be combined with other ports",
    })
    void portListRejects(String raw, String reason) {
        assertThatThrownBy(() -> ValueTypes.portList(true).parse(raw)).hasMessage(reason);
    }

    @Test
    void portListKeepsOrderAndDropsDuplicates() throws Exception {
        PortList list = ValueTypes.portList(true).parse("8080, 22,8080,65535,1");
        assertThat(list.ports()).containsExactly(8080, 22, 65535, 1);
        assertThat(list.contains(22)).isTrue();
        assertThat(ValueTypes.portList(true).parse("*").contains(1234)).isTrue();
    }

    @ParameterizedTest
    @CsvSource({"24h,PT24H", "90m,PT1H30M", "3600s,PT1H", "1h30m,PT1H30M", "500ms,PT0.5S", "1.5h,PT1H30M"})
    void durationsInGoSyntax(String raw, String iso) throws Exception {
        assertThat(ValueTypes.parseDuration(raw)).isEqualTo(Duration.parse(iso));
    }

    @Test
    void durationFormattingRoundTrips() throws Exception {
        for (String text : new String[] {"24h", "1h30m", "5s", "500ms", "2m3.5s", "0s"}) {
            assertThat(ValueTypes.formatDuration(ValueTypes.parseDuration(text))).isEqualTo(text);
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "24|'24' has no unit (write e.g. 24s)",
        "30d|'30d': days are not a unit here; write 720h",
        "-5s|'-5s' is negative",
        "5 s|'5 s' is not a duration (e.g. 24h, 90m, 3600s, 1h30m)",
        "h|'h' is not a duration (e.g. 24h, 90m, 3600s, 1h30m)",
    })
    void durationRejects(String raw, String reason) {
        assertThatThrownBy(() -> ValueTypes.parseDuration(raw)).hasMessage(reason);
    }

    @Test
    void durationBounds() {
        ValueType<Duration> ttl = ConfigKeys.SECRET_TTL.type();
        assertThatThrownBy(() -> ttl.parse("2161h")).hasMessage("'2161h' is longer than the maximum 2160h");
        assertThatThrownBy(() -> ttl.parse("1m")).hasMessage("'1m' is shorter than the minimum 10m");
    }

    @Test
    void ratios() throws Exception {
        assertThat(ValueTypes.ratio().parse("0.5")).isEqualTo(0.5);
        assertThat(ValueTypes.ratio().parse("1")).isEqualTo(1.0);
        assertThat(ValueTypes.ratio().parse(".25")).isEqualTo(0.25);
        assertThatThrownBy(() -> ValueTypes.ratio().parse("1.5"))
                .hasMessage("1.5 is larger than 1 (a ratio is between 0 and 1)");
        assertThatThrownBy(() -> ValueTypes.ratio().parse("50%"))
                .hasMessage("'50%' is not a decimal number between 0 and 1");
    }

    @Test
    void booleansAsGoParsesThem() throws Exception {
        for (String yes : new String[] {"true", "TRUE", "True", "1", "t"}) {
            assertThat(ValueTypes.bool().parse(yes)).isTrue();
        }
        assertThat(ValueTypes.bool().parse("false")).isFalse();
        assertThatThrownBy(() -> ValueTypes.bool().parse("yes"))
                .hasMessage("'yes' is not a boolean (use true or false)");
    }

    @Test
    void hostNamesFollowRfc1123() throws Exception {
        assertThat(ValueTypes.hostName().parse("istiod.istio-system.svc")).isEqualTo("istiod.istio-system.svc");
        assertThat(ValueTypes.hostName().parse("1host")).isEqualTo("1host");
        assertThatThrownBy(() -> ValueTypes.hostName().parse("vm_1")).hasMessage(
                "'vm_1': label 'vm_1' may hold only letters, digits and inner hyphens (RFC 1123)");
        assertThatThrownBy(() -> ValueTypes.hostName().parse("a..b"))
                .hasMessage("'a..b' has an empty label (leading, trailing or double dot)");
        assertThatThrownBy(() -> ValueTypes.hostName().parse("-a")).hasMessage(
                "'-a': label '-a' may hold only letters, digits and inner hyphens (RFC 1123)");
        assertThatThrownBy(() -> ValueTypes.hostName().parse("a".repeat(64))).hasMessageContaining(
                "is longer than 63 characters");
    }

    @Test
    void hostPorts() throws Exception {
        assertThat(ValueTypes.hostPort().parse("istiod.istio-system.svc:15012"))
                .isEqualTo(new HostPort("istiod.istio-system.svc", 15012));
        assertThat(ValueTypes.hostPort().parse("[fd00::1]:15012").toString()).isEqualTo("[fd00::1]:15012");
        assertThat(ValueTypes.hostPort().parse("10.0.0.1:8060").host()).isEqualTo("10.0.0.1");
        assertThatThrownBy(() -> ValueTypes.hostPort().parse("istiod"))
                .hasMessage("'istiod' has no port (expected host:port)");
        assertThatThrownBy(() -> ValueTypes.hostPort().parse("fd00::1:15012"))
                .hasMessage("'fd00::1:15012': write an IPv6 host in brackets, [addr]:port");
    }

    @Test
    void users() throws Exception {
        assertThat(ValueTypes.user().parse("istio-proxy")).isEqualTo(UserRef.named("istio-proxy"));
        assertThat(ValueTypes.user().parse("1337")).isEqualTo(UserRef.uid(1337));
        assertThatThrownBy(() -> ValueTypes.user().parse("Istio Proxy"))
                .hasMessage("'Istio Proxy' is not a valid user name or uid");
    }

    @Test
    void ipAddressesNeverResolveNames() throws Exception {
        assertThat(ValueTypes.ipAddress().parse("127.255.0.3")).isEqualTo(InetAddress.getByName("127.255.0.3"));
        assertThat(IpAddresses.format(ValueTypes.ipAddress().parse("2001:DB8:0:0:0:0:0:1"))).isEqualTo("2001:db8::1");
        assertThatThrownBy(() -> ValueTypes.ipAddress().parse("localhost"))
                .hasMessage("'localhost' is not an IPv4 or IPv6 address");
        assertThatThrownBy(() -> ValueTypes.ipAddress().parse("010.0.0.1"))
                .hasMessage("'010.0.0.1': octet '010' has a leading zero (ambiguous: octal or decimal?)");
    }

    @Test
    void cidrContainment() throws Exception {
        Cidr net = Cidr.parse("127.255.0.0/16");
        assertThat(net.contains(InetAddress.getByName("127.255.0.3"))).isTrue();
        assertThat(net.contains(InetAddress.getByName("127.0.0.1"))).isFalse();
        assertThat(net.contains(InetAddress.getByName("::1"))).isFalse();
    }

    @Test
    void jsonObjects() throws Exception {
        assertThat(ValueTypes.jsonObject().parse("{\"app\":\"httpbin\"}").get("app").asText()).isEqualTo("httpbin");
        assertThatThrownBy(() -> ValueTypes.jsonObject().parse("[1]")).hasMessage("must be a JSON object ({...})");
    }

    @Test
    void jsonEscapesMayNotSmuggleControlCharacters() {
        assertThatThrownBy(() -> ValueTypes.jsonObject().parse("{\"app\":\"x\\u001b[2J\"}"))
                .hasMessage("the JSON string at /app contains control character 0x1b (from an escape); control "
                        + "characters are not allowed");
        assertThatThrownBy(() -> ValueTypes.jsonObject().parse("{\"a\":{\"b\\nc\":1}}"))
                .hasMessage("the JSON name at /a/b\\x0ac contains control character 0x0a (from an escape); control "
                        + "characters are not allowed");
        assertThatThrownBy(() -> ValueTypes.jsonObject().parse("{\"a\":[\"ok\",\"\\u2029\"]}"))
                .hasMessage("the JSON string at /a/1 contains control character U+2029 (from an escape); control "
                        + "characters are not allowed");
    }
}
