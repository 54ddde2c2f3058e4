package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The README's supported-operator table must equal the one generated from the registry.
 * Regenerate with {@code ./run-tests -pl engine -Dtest=OpTableDocTest -Dgatun.updateDocs=true}.
 */
class OpTableDocTest {
    private static final String BEGIN = "<!-- ops:begin (generated from OpRegistry by OpTableDocTest) -->\n";
    private static final String END = "<!-- ops:end -->";

    @Test
    void readmeTableMatchesRegistry() throws IOException {
        Path readme = Path.of(System.getProperty("gatun.root.dir", "..")).resolve("README.md");
        Assumptions.assumeTrue(Files.exists(readme), "README.md not found at " + readme);
        String text = Files.readString(readme);
        int b = text.indexOf(BEGIN);
        int e = text.indexOf(END);
        if (b < 0 || e < b) {
            throw new AssertionError("README.md lacks the markers " + BEGIN.trim() + " ... " + END);
        }
        String current = text.substring(b + BEGIN.length(), e);
        String generated = OpTable.markdown();
        if (Boolean.getBoolean("gatun.updateDocs")) {
            Files.writeString(readme, text.substring(0, b + BEGIN.length()) + generated + text.substring(e));
            return;
        }
        assertEquals(generated, current, "README operator table is stale: rerun with -Dgatun.updateDocs=true");
    }
}
