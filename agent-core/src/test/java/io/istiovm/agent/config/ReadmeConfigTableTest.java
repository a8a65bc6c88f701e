package io.istiovm.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * README's configuration table is generated from the registry; this keeps the two from drifting apart.
 * {@code mvn test -Dupdate.goldens=true} rewrites the table in place.
 */
class ReadmeConfigTableTest {
    private static final String START = "<!-- config-table:start -->\n";
    private static final String END = "<!-- config-table:end -->";

    @Test
    void readmeTableMatchesTheRegistry() throws Exception {
        // Surefire runs in the module directory; README.md is at the repository root.
        Path readme = Path.of("..", "README.md");
        String text = Files.readString(readme);
        int start = text.indexOf(START);
        int end = text.indexOf(END);
        if (Boolean.getBoolean("update.goldens") && start >= 0 && end > start) {
            Files.writeString(readme, text.substring(0, start + START.length()) + ConfigTable.markdown()
                    + text.substring(end));
            return;
        }
        assertThat(start).as("README.md has the table start marker").isGreaterThanOrEqualTo(0);
        assertThat(end).as("README.md has the table end marker").isGreaterThan(start);
        assertThat(text.substring(start + START.length(), end))
                .as("README.md's configuration table; regenerate it with: mvn -pl agent-core test -Dtest=ReadmeConfigTableTest -Dupdate.goldens=true")
                .isEqualTo(ConfigTable.markdown());
    }
}
