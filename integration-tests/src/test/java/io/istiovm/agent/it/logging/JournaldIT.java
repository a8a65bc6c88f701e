package io.istiovm.agent.it.logging;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The agent jar's log entries as a real systemd-journald stores them: journald runs in a mount namespace of its own
 * (tmpfs over /run and /var/log, so the machine's journal and files are never touched), the agent's backend sends to
 * its socket, and journalctl reads them back as JSON. Checks what {@code journalctl -o json} and {@code -p warning}
 * show the operator: PRIORITY 3/4/6, the fields, a multi-line message whole. Needs Debian's systemd (journald,
 * journalctl) and util-linux (unshare); root.
 */
class JournaldIT {
    static final String SPIFFE_ID = "spiffe://cluster.local/ns/vm/sa/default";
    static final String MULTI_LINE = "renewal failing\n  second line = with an equals sign";

    private static final String SCRIPT = """
            set -e
            mount -t tmpfs tmpfs /run
            mount -t tmpfs tmpfs /var/log
            mkdir -p /run/systemd/journal
            /lib/systemd/systemd-journald >/dev/null 2>&1 &
            journald=$!
            trap 'kill $journald' EXIT
            tries=0
            until [ -S /run/systemd/journal/socket ]; do
              tries=$((tries + 1)); [ $tries -lt 200 ] || { echo "journald did not start" >&2; exit 3; }; sleep 0.05
            done
            VM_AGENT_LOG_TARGET=journal VM_AGENT_LOG_LEVEL=info "$@"
            # Poll on the journal's state (3 entries), with a deadline.
            tries=0
            until [ "$(journalctl --directory=/run/log/journal SYSLOG_IDENTIFIER=istio-vm-agent -o json | wc -l)" -ge 3 ]; do
              tries=$((tries + 1)); [ $tries -lt 200 ] || { echo "entries did not arrive" >&2; exit 4; }; sleep 0.05
            done
            journalctl --directory=/run/log/journal SYSLOG_IDENTIFIER=istio-vm-agent -o json
            echo ---
            journalctl --directory=/run/log/journal SYSLOG_IDENTIFIER=istio-vm-agent -p warning -o json
            """;

    @Test
    void journaldStoresEachEntryWithItsPriorityAndFields() throws Exception {
        String agentJar = System.getProperty("agent.jar");
        Path probe = Path.of(JournalLines.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> command = new ArrayList<>(List.of("unshare", "--mount", "sh", "-c", SCRIPT, "sh",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                agentJar + File.pathSeparator + probe, JournalLines.class.getName()));
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(out).isZero();

        String[] parts = out.split("\n---\n", 2);
        List<Map<String, String>> all = entries(parts[0]);
        List<Map<String, String>> warnings = entries(parts[1]);

        assertThat(all).extracting(e -> e.get("PRIORITY")).containsExactly("6", "4", "3");
        Map<String, String> info = all.get(0);
        assertThat(info).containsEntry("MESSAGE", "identity rotated").containsEntry("CERT_SERIAL", "1f2e")
                .containsEntry("SPIFFE_ID", SPIFFE_ID).containsEntry("COMPONENT", "identity")
                .containsEntry("SYSLOG_IDENTIFIER", "istio-vm-agent").containsEntry("LOGGER",
                        "io.istiovm.agent.ca.Rotator")
                .containsEntry("CODE_FUNC", "io.istiovm.agent.it.logging.JournalLines.main")
                .containsEntry("CODE_FILE", "io/istiovm/agent/it/logging/JournalLines.java");
        assertThat(all.get(1)).containsEntry("MESSAGE", MULTI_LINE);
        assertThat(all.get(2)).containsEntry("EXCEPTION", "java.lang.IllegalStateException: boom");
        assertThat(all.get(2).get("ERROR_STACK")).startsWith("java.lang.IllegalStateException: boom\n\tat ");
        assertThat(warnings).extracting(e -> e.get("MESSAGE")).containsExactly(MULTI_LINE, "renewal failed");
    }

    /** journalctl's JSON lines, user fields only; a multi-line value is an array of bytes in JSON when not UTF-8. */
    private static List<Map<String, String>> entries(String json) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        List<Map<String, String>> entries = new ArrayList<>();
        for (String line : json.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode node = mapper.readTree(line);
            Map<String, String> fields = new TreeMap<>();
            node.fields().forEachRemaining(f -> {
                if (!f.getKey().startsWith("_")) {
                    fields.put(f.getKey(), f.getValue().isArray() ? bytes(f.getValue()) : f.getValue().asText());
                }
            });
            entries.add(fields);
        }
        return entries;
    }

    private static String bytes(JsonNode array) {
        byte[] bytes = new byte[array.size()];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) array.get(i).asInt();
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
