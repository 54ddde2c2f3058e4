package dev.gatun.engine.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gatun.engine.conformance.ConformanceRunner.Outcome;
import dev.gatun.engine.conformance.ConformanceRunner.Status;
import dev.gatun.engine.conformance.ConformanceRunner.Summary;
import dev.gatun.engine.ops.OpRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The ONNX backend node tests (and the 9 light classifiers) from the shared test data, run through the same
 * {@link ConformanceRunner} as {@code gatun conformance}. Fails on any regression: a test that fails, or that
 * is skipped although every op it uses is registered, must be listed in {@code conformance/expected-failures/*.tsv}
 * ({@code test_name<TAB>reason}). Skips with a message where the data is absent.
 */
class NodeConformanceTest {
    /** A floor under the pass count, so that a silent mass-skip cannot look like success. */
    private static final int MIN_NODE_PASSES = 700;

    private static Path data() {
        Path dir = Path.of(System.getProperty("gatun.shared.dir", "../../shared"), "onnx-node-tests");
        Assumptions.assumeTrue(Files.isDirectory(dir.resolve("node")),
                "ONNX node test data not found at " + dir.toAbsolutePath() + "; conformance skipped");
        return dir;
    }

    @Test
    void nodeTestsPassOrAreExpectedFailures() throws IOException {
        Path dir = data();
        Map<String, String[]> manifest = manifest(dir.resolve("MANIFEST.tsv"));
        Map<String, String> expected = expectedFailures();
        Summary s = ConformanceRunner.run(dir.resolve("node"), null, null);
        List<String> regressions = new ArrayList<>();
        List<String> nowPassing = new ArrayList<>();
        for (Outcome o : s.outcomes()) {
            String[] row = manifest.get(o.name());
            String opType = row == null ? "" : row[1];
            boolean allRegistered = row != null && allOpsRegistered(row[15]);
            boolean mustPass = o.status() == Status.FAIL || (o.status() == Status.SKIP && allRegistered);
            if (mustPass && !expected.containsKey(o.name())) {
                regressions.add(o.status() + " " + o.name() + " [" + opType + "]: " + o.reason());
            }
            if (o.status() == Status.PASS && expected.containsKey(o.name())) {
                nowPassing.add(o.name());
            }
        }
        System.out.println("node conformance: " + s.line());
        if (!nowPassing.isEmpty()) {
            System.out.println("expected failures that now pass (remove them from the list): " + nowPassing);
        }
        if (!regressions.isEmpty()) {
            fail(regressions.size() + " node test(s) fail without an expected-failure entry:\n" + String.join("\n", regressions));
        }
        assertTrue(s.count(Status.PASS) >= MIN_NODE_PASSES, "only " + s.count(Status.PASS) + " node tests passed: " + s.line());
    }

    @Test
    void lightClassifiersAllPass() {
        Path dir = data().resolve("light");
        Summary s = ConformanceRunner.run(dir, null, null);
        List<String> bad = s.outcomes().stream().filter(o -> o.status() != Status.PASS)
                .map(o -> o.status() + " " + o.name() + ": " + o.reason()).toList();
        assertTrue(bad.isEmpty(), String.join("\n", bad));
        assertEquals(9, s.count(Status.PASS), s.line());
    }

    /** Whether every op of a test ({@code all_ops}: "Op" or "domain:Op", joined by ';' or ',') is registered. */
    private static boolean allOpsRegistered(String allOps) {
        for (String op : allOps.split("[;,+ ]+")) {
            if (op.isBlank()) {
                continue;
            }
            int c = op.lastIndexOf(':');
            String domain = c < 0 ? "" : op.substring(0, c);
            if (OpRegistry.find(domain.equals("ai.onnx") ? "" : domain, op.substring(c + 1)) == null) {
                return false;
            }
        }
        return true;
    }

    private static Map<String, String[]> manifest(Path f) throws IOException {
        Map<String, String[]> m = new HashMap<>();
        for (String line : Files.readAllLines(f)) {
            String[] c = line.split("\t", -1);
            if (c.length > 15 && !c[0].equals("test_name")) {
                m.put(c[0], c);
            }
        }
        return m;
    }

    /** Every {@code conformance/expected-failures/*.tsv} test resource: test name -> reason. */
    static Map<String, String> expectedFailures() throws IOException {
        Map<String, String> m = new TreeMap<>();
        java.net.URL url = NodeConformanceTest.class.getClassLoader().getResource("conformance/expected-failures");
        if (url == null) {
            return m;
        }
        List<Path> files;
        try (var list = Files.list(Path.of(java.net.URI.create(url.toString())))) {
            files = list.filter(f -> f.toString().endsWith(".tsv")).sorted().toList();
        }
        for (Path f : files) {
            for (String line : Files.readAllLines(f)) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] c = line.split("\t", 2);
                if (c.length < 2 || c[1].isBlank()) {
                    throw new IOException(f.getFileName() + ": entry '" + line + "' has no reason");
                }
                m.put(c[0].trim(), c[1].trim());
            }
        }
        return m;
    }
}
