package io.istiovm.agent.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = {"Ask the running agent how it is, over its status port on 127.0.0.1 (/debug/status).",
            "Exit 0 when the agent is ready, 1 when it runs but is not ready, 69 when it cannot be reached."})
final class StatusCommand extends ConfiguredCommand {
    enum Format { text, json }

    /** The agent answers from its state at once; more than this means it is not answering. */
    static final Duration TIMEOUT = Duration.ofSeconds(5);
    /** /debug/status is a few KB; anything far larger is not the agent. */
    static final int MAX_BODY = 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--port", paramLabel = "PORT",
            description = "The status port (default: VM_AGENT_STATUS_PORT from the configuration).")
    Integer port;

    @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "text",
            description = "text or json, the agent's /debug/status as it is (default: ${DEFAULT-VALUE}).")
    Format format;

    StatusCommand(CliEnvironment env) {
        super(env);
    }

    @Override
    public Integer call() throws Exception {
        int statusPort = port != null ? port : env.assembly().statusPort(config.load(env).config());
        if (statusPort < 1 || statusPort > 65535) {
            env.err().println("error: --port " + statusPort + ": not a port (1-65535)");
            return ExitCodes.USAGE;
        }
        URI uri = URI.create("http://" + InetAddress.getLoopbackAddress().getHostAddress() + ":" + statusPort
                + "/debug/status");
        String body;
        try {
            HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
            HttpResponse<String> answer = client.send(HttpRequest.newBuilder(uri).timeout(TIMEOUT).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            if (answer.statusCode() != 200 || answer.body().length() > MAX_BODY) {
                env.err().println("error: " + uri + " answered " + answer.statusCode() + ": not the agent's status");
                return ExitCodes.UNAVAILABLE;
            }
            body = answer.body();
        } catch (IOException e) {
            env.err().println("error: the agent is not reachable at " + uri + ": " + e);
            return ExitCodes.UNAVAILABLE;
        }
        JsonNode status;
        try {
            status = JSON.readTree(body);
        } catch (IOException e) {
            env.err().println("error: " + uri + " did not answer JSON: " + e.getMessage());
            return ExitCodes.UNAVAILABLE;
        }
        if (format == Format.json) {
            env.out().println(body.strip());
        } else {
            print(env.out(), status);
        }
        return status.path("ready").asBoolean(false) ? ExitCodes.OK : ExitCodes.DIFFERENT;
    }

    /** One line for the agent, one per component with its facts, the last reload. */
    static void print(PrintWriter out, JsonNode status) {
        out.println("istio-vm-agent: " + (status.path("ready").asBoolean(false) ? "ready" : "NOT READY")
                + " (" + status.path("stage").asText("?") + ")");
        int width = 0;
        for (JsonNode c : status.path("components")) {
            width = Math.max(width, c.path("name").asText().length());
        }
        for (JsonNode c : status.path("components")) {
            out.printf("  %-" + width + "s  %-8s  %s%n", c.path("name").asText(), c.path("phase").asText(),
                    c.path("reason").asText());
            StringBuilder facts = new StringBuilder();
            for (Iterator<Map.Entry<String, JsonNode>> it = c.path("facts").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> fact = it.next();
                facts.append(facts.length() == 0 ? "" : " ").append(fact.getKey()).append('=')
                        .append(fact.getValue().asText());
            }
            if (facts.length() > 0) {
                out.printf("  %-" + width + "s            %s%n", "", facts);
            }
        }
        JsonNode reload = status.path("last_reload");
        if (reload.isObject()) {
            out.println("  last reload: " + reload.path("at").asText() + ", " + reload.path("outcome").asText()
                    + (reload.has("reason") ? ": " + reload.path("reason").asText() : ""));
        }
    }
}
