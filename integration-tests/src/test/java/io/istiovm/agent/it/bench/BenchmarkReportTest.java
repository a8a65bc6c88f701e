package io.istiovm.agent.it.bench;

import static io.istiovm.agent.it.bench.Figure.Comparator.AT_LEAST;
import static io.istiovm.agent.it.bench.Figure.Comparator.AT_MOST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report writer: what the table and the JSON say for met, missed, informative and unmeasured figures. */
class BenchmarkReportTest {
    private static final Machine MACHINE = new Machine("Test CPU @ 1 GHz", 2, "6.1.0-test", "Debian GNU/Linux 12",
            "OpenJDK 17.0.1", Instant.parse("2026-12-03T07:00:00Z"), "0.10 0.20 0.30");

    private static BenchmarkReport report() {
        return new BenchmarkReport("sudo ./istio-vm-agent benchmark", MACHINE, Duration.ofSeconds(245), List.of(
                Figure.measured("exec → READY=1", 2.0, "s", 0.5, AT_MOST, "median of 5", "start faster"),
                Figure.info("… of which the agent's", 1.25, "s", "a | breakdown"),
                Figure.measured("ratio", 32.5, "×", 20.0, AT_LEAST, "1215 rules", "keep it"),
                Figure.measured("ratio too low", 10.0, "×", 20.0, AT_LEAST, "", "one transaction"),
                Figure.notMeasured("fleet share", "%", 5.0, AT_MOST, "slot: not merged")),
                List.of(new BenchmarkReport.Plot("Fleet", "benchmarks/fleet-rotation.png")));
    }

    @Test
    void tableRowsCarryValueGoalVerdictAndHow() {
        String md = report().markdown();
        assertThat(md).contains("**Machine:** Test CPU @ 1 GHz, 2 cores, kernel 6.1.0-test, Debian GNU/Linux 12, "
                + "OpenJDK 17.0.1. **Run:** 2026-12-03T07:00:00Z, load average at start 0.10 0.20 0.30, "
                + "suite 4 min 5 s.");
        assertThat(md).contains("| Figure | Value | Goal | Verdict | How measured |\n|---|---|---|---|---|\n");
        assertThat(md).contains(
                "| exec → READY=1 | 2 s | <= 0.5 s | ❌ missed by 1.5 s (4× the goal) | median of 5 |");
        assertThat(md).contains("| … of which the agent's | 1.25 s |  |  | a \\| breakdown |");
        assertThat(md).contains("| ratio | 32.5 × | >= 20 × | ✅ met | 1215 rules |");
        assertThat(md).contains(
                "| ratio too low | 10 × | >= 20 × | ❌ missed by 10 × (goal is 2× the value) |  |");
        assertThat(md).contains("| fleet share | not measured | <= 5 % | not measured | slot: not merged |");
        assertThat(md).contains("![Fleet](benchmarks/fleet-rotation.png)");
    }

    @Test
    void whatItWouldTakeListsTheMissedAndUnmeasuredGoalsOnly() {
        String md = report().markdown();
        String section = md.substring(md.indexOf("## Where a goal is missed"), md.indexOf("## Plots"));
        assertThat(section.lines().filter(l -> l.startsWith("- ")).toList()).containsExactly(
                "- **exec → READY=1** (missed by 1.5 s (4× the goal)): start faster",
                "- **ratio too low** (missed by 10 × (goal is 2× the value)): one transaction",
                "- **fleet share** (not measured): slot: not merged");
    }

    @Test
    void jsonHasTheSameNumbersWithUnitsGoalsComparatorsAndTheMachine() throws Exception {
        String text = report().json();
        assertThat(text).contains("\"goal\" : 20,").contains("\"value\" : 32.5,").doesNotContain("E+");
        JsonNode json = new ObjectMapper().readTree(text);
        assertThat(json.get("machine").get("cpu_model").asText()).isEqualTo("Test CPU @ 1 GHz");
        assertThat(json.get("machine").get("cores").asInt()).isEqualTo(2);
        assertThat(json.get("machine").get("date").asText()).isEqualTo("2026-12-03T07:00:00Z");
        assertThat(json.get("suite_seconds").asDouble()).isEqualTo(245.0);
        JsonNode figures = json.get("figures");
        assertThat(figures).hasSize(5);
        JsonNode ready = figures.get(0);
        assertThat(ready.get("name").asText()).isEqualTo("exec → READY=1");
        assertThat(ready.get("value").asDouble()).isEqualTo(2.0);
        assertThat(ready.get("unit").asText()).isEqualTo("s");
        assertThat(ready.get("goal").asDouble()).isEqualTo(0.5);
        assertThat(ready.get("comparator").asText()).isEqualTo("<=");
        assertThat(ready.get("met").asBoolean()).isFalse();
        assertThat(ready.get("missed_by").asDouble()).isEqualTo(1.5);
        assertThat(ready.get("to_meet").asText()).isEqualTo("start faster");
        JsonNode info = figures.get(1);
        assertThat(info.get("goal").isNull()).isTrue();
        assertThat(info.get("comparator").isNull()).isTrue();
        assertThat(info.get("met").isNull()).isTrue();
        JsonNode met = figures.get(2);
        assertThat(met.get("met").asBoolean()).isTrue();
        assertThat(met.get("comparator").asText()).isEqualTo(">=");
        assertThat(met.has("missed_by")).isFalse();
        assertThat(met.has("to_meet")).isFalse();
        JsonNode unmeasured = figures.get(4);
        assertThat(unmeasured.get("value").isNull()).isTrue();
        assertThat(unmeasured.get("met").isNull()).isTrue();
        assertThat(unmeasured.get("not_measured").asText()).isEqualTo("slot: not merged");
        assertThat(json.get("plots").get(0).get("path").asText()).isEqualTo("benchmarks/fleet-rotation.png");
    }

    @Test
    void readmeGetsOneRowPerGoalBetweenItsMarkersAndNothingElseChanges() {
        String readme = "# x\n\nbefore\n" + BenchmarkReport.README_BEGIN + "\nstale\n" + BenchmarkReport.README_END
                + "\nafter\n";
        String updated = report().withSummary(readme, "docs");
        assertThat(updated).startsWith("# x\n\nbefore\n" + BenchmarkReport.README_BEGIN + "\n")
                .endsWith(BenchmarkReport.README_END + "\nafter\n").doesNotContain("stale")
                .contains("[docs/benchmarks.md](docs/benchmarks.md)");
        long goals = report().figures().stream().filter(f -> f.goal() != null).count();
        assertThat(updated.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| Figure")).count())
                .isEqualTo(goals);
        assertThat(report().withSummary(updated, "docs")).as("idempotent").isEqualTo(updated);
        assertThatThrownBy(() -> report().withSummary("no markers", "docs"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void writeReplacesBothFiles(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("benchmarks.md"), "old");
        report().write(dir);
        assertThat(Files.readString(dir.resolve("benchmarks.md"))).isEqualTo(report().markdown());
        assertThat(Files.readString(dir.resolve("benchmarks.json"))).isEqualTo(report().json());
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly("benchmarks.json", "benchmarks.md");
        }
    }

    @Test
    void aFigureHasAValueOrAReasonAndAGoalWithItsComparator() {
        assertThatThrownBy(() -> new Figure("x", null, "s", null, null, "", null, null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Figure("x", 1.0, "s", null, null, "", "why", null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Figure("x", 1.0, "s", 2.0, null, "", null, null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Figure.info("x", Double.NaN, "s", ""))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Figure.info("x", 1.0, "s", "two\nlines"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void numbersKeepThreeSignificantDigits() {
        assertThat(Figure.number(0.0123)).isEqualTo("0.012");
        assertThat(Figure.number(1.234)).isEqualTo("1.23");
        assertThat(Figure.number(12.34)).isEqualTo("12.3");
        assertThat(Figure.number(123.4)).isEqualTo("123");
        assertThat(Figure.number(8604.1)).isEqualTo("8604");
        assertThat(Figure.number(20)).isEqualTo("20");
        assertThat(Figure.number(0.5)).isEqualTo("0.5");
        assertThat(Figure.number(10.04)).isEqualTo("10");
        assertThat(Figure.number(2.30)).isEqualTo("2.3");
        assertThat(Figure.format(3, "connections")).isEqualTo("3 connections");
    }
}
