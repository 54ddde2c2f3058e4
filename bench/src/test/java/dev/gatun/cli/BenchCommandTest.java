package dev.gatun.cli;

import static dev.gatun.cli.GatunTest.floats;
import static dev.gatun.cli.GatunTest.gatun;
import static dev.gatun.cli.GatunTest.model;
import static dev.gatun.cli.GatunTest.value;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.cli.GatunTest.Outcome;
import dev.gatun.engine.onnx.proto.Onnx;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gatun bench}: options, the JSON object and the table, statistics and the interleaving. No timing assertions. */
class BenchCommandTest {
    @TempDir
    Path dir;

    /** y = Relu(x + w): x float[batch,4] (or [2,4] when {@code fixed}), w 4 floats; runs on Gatun and ONNX Runtime. */
    private Path addRelu(boolean fixed) throws IOException {
        Onnx.ModelProto m = model(Onnx.GraphProto.newBuilder().setName("addrelu")
                .addInitializer(floats("w", new float[] {1, -2, 3, -4}, 4))
                .addInput(fixed ? value("x", 1, 2, 4) : value("x", 1, "batch", 4))
                .addOutput(fixed ? value("y", 1, 2, 4) : value("y", 1, "batch", 4))
                .addNode(Onnx.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("s"))
                .addNode(Onnx.NodeProto.newBuilder().setName("relu").setOpType("Relu").addInput("s").addOutput("y"))).build();
        Path f = dir.resolve(fixed ? "fixed.onnx" : "addrelu.onnx");
        Files.write(f, m.toByteArray());
        return f;
    }

    // ---------------------------------------------------------------------------------------- JSON

    @Test
    void jsonWithCompareIsOneObjectWithTheRatio() throws IOException {
        Outcome o = gatun("bench", addRelu(false).toString(), "--compare", "ort", "--json", "--warmup", "1",
                "--iterations", "5", "--dim", "batch=3", "--threads", "2");
        assertEquals(0, o.code(), o.err());
        String out = o.out().strip();
        assertFalse(out.contains("\n"), "one line: " + out);
        Map<String, Object> j = Json.object(out);
        assertEquals(Set.of("model", "device", "threads", "dims", "batch", "warmup", "iterations", "gatun", "ort", "speedup_p50",
                "load_avg"), j.keySet());
        assertEquals("addrelu", j.get("model"));
        assertTrue(((String) j.get("device")).startsWith("cpu: "), out);
        assertEquals(2.0, j.get("threads"));
        assertEquals(Map.of("batch", 3.0), j.get("dims"));
        assertEquals(3.0, j.get("batch"));
        assertEquals(1.0, j.get("warmup"));
        assertEquals(5.0, j.get("iterations"));
        Map<String, Object> g = stats(j.get("gatun"));
        Map<String, Object> r = stats(j.get("ort"));
        for (Map<String, Object> s : List.of(g, r)) {
            assertEquals(5.0, s.get("runs"));
            assertEquals((double) s.get("per_s") * 3, (double) s.get("items_per_s"), 1e-9 * (double) s.get("items_per_s"));
        }
        assertEquals((double) r.get("p50_ms") / (double) g.get("p50_ms"), (double) j.get("speedup_p50"), 1e-12);
    }

    /** The stats object: every key there, latencies positive and ordered, per_s = 1000 / mean. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> stats(Object o) {
        assertInstanceOf(Map.class, o);
        Map<String, Object> s = (Map<String, Object>) o;
        assertEquals(Set.of("p50_ms", "p90_ms", "p99_ms", "min_ms", "mean_ms", "per_s", "items_per_s", "runs"), s.keySet());
        double p50 = (double) s.get("p50_ms");
        double p90 = (double) s.get("p90_ms");
        double p99 = (double) s.get("p99_ms");
        double min = (double) s.get("min_ms");
        assertTrue(min > 0 && min <= p50 && p50 <= p90 && p90 <= p99, s.toString());
        assertEquals(1000 / (double) s.get("mean_ms"), (double) s.get("per_s"), 1e-9 * (double) s.get("per_s"));
        return s;
    }

    @Test
    void profilePrintsOpTypesAndSlowestNodes() throws IOException {
        Outcome o = gatun("bench", addRelu(true).toString(), "--warmup", "0", "--iterations", "2", "--profile", "3", "--top", "1");
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("profile   3 runs"), o.out());
        assertTrue(o.out().lines().anyMatch(l -> l.matches("\\S+\\s+\\d+\\s+\\d+\\.\\d{3}\\s+\\d+\\.\\d%")), o.out());
        assertTrue(o.out().contains("slowest nodes"), o.out());
        Outcome json = gatun("bench", addRelu(true).toString(), "--json", "--warmup", "0", "--iterations", "1", "--profile");
        assertEquals(0, json.code(), json.err());
        Json.object(json.out().strip());
        assertTrue(json.err().contains("profile   20 runs"), "the profile goes to stderr with --json: " + json.err());
        assertEquals(2, gatun("bench", addRelu(true).toString(), "--profile", "0").code());
    }

    @Test
    void profileTableSumsPerOpType() {
        String t = BenchCommand.profileTable(List.of(new dev.gatun.engine.Session.NodeTime("a", "MatMul", 3.0),
                new dev.gatun.engine.Session.NodeTime("b", "Add", 1.0), new dev.gatun.engine.Session.NodeTime("c", "MatMul", 1.0)), 6.0, 4, 2);
        assertTrue(t.contains("of which 5.000 ms in nodes"), t);
        assertTrue(t.lines().anyMatch(l -> l.matches("MatMul\\s+2\\s+4\\.000\\s+80\\.0%")), t);
        assertTrue(t.lines().anyMatch(l -> l.matches("Add\\s+1\\s+1\\.000\\s+20\\.0%")), t);
        assertTrue(t.indexOf("MatMul") < t.indexOf("Add"), "slowest type first: " + t);
        assertEquals(2, t.lines().dropWhile(l -> !l.startsWith("slowest nodes")).skip(1).filter(l -> !l.isBlank()).count(), t);
    }

    @Test
    void jsonWithoutCompareHasNullOrtAndRatio() throws IOException {
        Outcome o = gatun("bench", addRelu(true).toString(), "--json", "--warmup", "0", "--iterations", "2");
        assertEquals(0, o.code(), o.err());
        Map<String, Object> j = Json.object(o.out().strip());
        assertNull(j.get("ort"));
        assertNull(j.get("speedup_p50"));
        assertTrue(j.containsKey("ort") && j.containsKey("speedup_p50"));
        assertNull(j.get("batch"), "a fixed first dim is no batch");
        assertEquals(Map.of(), j.get("dims"));
        assertNull(stats(j.get("gatun")).get("items_per_s"));
        assertEquals("fixed", j.get("model"));
    }

    @Test
    void tableShowsBothEnginesAndTheSpeedup() throws IOException {
        Outcome o = gatun("bench", addRelu(false).toString(), "--compare", "ort", "--warmup", "1", "--iterations", "3");
        assertEquals(0, o.code(), o.err());
        String out = o.out();
        for (String s : new String[] {"model     addrelu.onnx", "input     x  float[1,4]", "p50 ms", "items/s", "gatun ",
                "onnxruntime ", "speedup ", "interleaved", "inter-op 1, sequential"}) {
            assertTrue(out.contains(s), s + " missing from:\n" + out);
        }
        assertTrue(o.err().contains("dim 'batch' set to 1"), o.err());
        Outcome alone = gatun("bench", addRelu(true).toString(), "--warmup", "0", "--iterations", "1");
        assertEquals(0, alone.code(), alone.err());
        assertFalse(alone.out().contains("speedup") || alone.out().contains("onnxruntime") || alone.out().contains("items/s"),
                alone.out());
    }

    @Test
    void timeLimitStopsAfterOneRunOfEach() throws IOException {
        Outcome o = gatun("bench", addRelu(false).toString(), "--compare", "ort", "--json", "--warmup", "0",
                "--iterations", "1000000", "--time-limit", "1e-9");
        assertEquals(0, o.code(), o.err());
        Map<String, Object> j = Json.object(o.out().strip());
        assertEquals(1.0, stats(j.get("gatun")).get("runs"));
        assertEquals(1.0, stats(j.get("ort")).get("runs"));
    }

    // ---------------------------------------------------------------------------------------- options

    @Test
    void badOptionsAreUsageErrors() throws IOException {
        String f = addRelu(false).toString();
        String[][] cases = {
            {"--compare", "tf", "the only runtime to compare with is 'ort'"},
            {"--iterations", "0", "--iterations 0: must be >= 1"},
            {"--warmup", "-1", "--warmup -1: must be >= 0"},
            {"--threads", "0", "--threads 0: must be >= 1"},
            {"--time-limit", "0", "--time-limit 0.0: must be > 0 seconds"},
            {"--dim", "seq=4", "no input has a symbolic dim named 'seq'"},
        };
        for (String[] c : cases) {
            Outcome o = gatun("bench", f, c[0], c[1]);
            assertEquals(2, o.code(), String.join(" ", c) + ": " + o.err());
            assertTrue(o.err().startsWith("gatun: ") && o.err().contains(c[2]), o.err());
            assertEquals("", o.out());
        }
        Outcome notANumber = GatunTest.exec(Gatun.commandLine(), "bench", f, "--iterations", "many");
        assertEquals(2, notANumber.code());
        assertTrue(notANumber.err().startsWith("gatun: Invalid value for option '--iterations'"), notANumber.err());
        Outcome missing = gatun("bench", dir.resolve("nope.onnx").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("no such file"), missing.err());
    }

    @Test
    void helpDescribesTheMethodAndJson() {
        Outcome o = gatun("bench", "--help");
        assertEquals(0, o.code());
        for (String s : new String[] {"--compare", "--warmup", "--iterations", "--time-limit", "--json", "--dim", "--seed",
                "speedup_p50", "ORT p50 / Gatun p50"}) {
            assertTrue(o.out().contains(s), s + " missing from:\n" + o.out());
        }
        assertTrue(gatun("--help").out().contains("bench"));
    }

    // ---------------------------------------------------------------------------------------- statistics

    @Test
    void percentilesInterpolateBetweenRanks() {
        double[] s = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        assertEquals(5.5, BenchReport.percentile(s, 50), 1e-12);
        assertEquals(9.1, BenchReport.percentile(s, 90), 1e-12);
        assertEquals(9.91, BenchReport.percentile(s, 99), 1e-12);
        assertEquals(1, BenchReport.percentile(s, 0), 1e-12);
        assertEquals(10, BenchReport.percentile(s, 100), 1e-12);
        assertEquals(7, BenchReport.percentile(new double[] {7}, 99), 1e-12);
        BenchReport.Stats st = BenchReport.Stats.of(new double[] {4, 1, 3, 2}, 8L);
        assertEquals(2.5, st.p50Ms(), 1e-12);
        assertEquals(2.5, st.meanMs(), 1e-12);
        assertEquals(1, st.minMs(), 1e-12);
        assertEquals(400, st.perS(), 1e-9);
        assertEquals(3200, st.itemsPerS(), 1e-9);
        assertEquals(4, st.runs());
        assertNull(BenchReport.Stats.of(new double[] {1}, null).itemsPerS());
        assertThrows(IllegalArgumentException.class, () -> BenchReport.Stats.of(new double[0], null));
    }

    @Test
    void speedupIsOrtOverGatun() {
        BenchReport.Stats g = BenchReport.Stats.of(new double[] {10, 10, 10}, null);
        BenchReport.Stats o = BenchReport.Stats.of(new double[] {12, 12, 30}, null);
        BenchReport r = new BenchReport("m", "cpu", 1, Map.of(), null, 0, 3, g, o, 0.5, 1.5);
        assertEquals(1.2, r.speedupP50(), 1e-12);
        assertTrue(r.table().contains("speedup   1.20x"), r.table());
        assertNull(new BenchReport("m", "cpu", 1, Map.of(), null, 0, 3, g, null, null, null).speedupP50());
        assertTrue(r.table().contains("load      0.50 before, 1.50 after"), r.table());
        Map<String, Object> j = Json.object(r.json());
        assertEquals(1.2, (double) j.get("speedup_p50"), 1e-12);
        assertEquals(Map.of("before", 0.5, "after", 1.5), j.get("load_avg"));
    }

    @Test
    void jsonEscapesStrings() {
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\"", BenchReport.quote("a\"b\\c\n\u0001"));
        assertEquals("null", BenchReport.num(Double.NaN));
        assertEquals("null", BenchReport.num(null));
        assertEquals("0.25", BenchReport.num(0.25));
        BenchReport.Stats g = BenchReport.Stats.of(new double[] {1}, 2L);
        Map<String, Long> dims = new LinkedHashMap<>();
        dims.put("we\"ird", 2L);
        Map<String, Object> j = Json.object(new BenchReport("x\"y", "cpu", 1, dims, 2L, 0, 1, g, null, null, null).json());
        assertEquals("x\"y", j.get("model"));
        assertNull(j.get("load_avg"));
        assertEquals(Map.of("we\"ird", 2.0), j.get("dims"));
    }

    // ---------------------------------------------------------------------------------------- interleaving

    @Test
    void runnersAreWarmedUpThenMeasuredInTurn() throws Exception {
        List<String> log = new ArrayList<>();
        List<BenchCommand.Runner> runners = List.of(() -> log.add("g"), () -> log.add("o"));
        BenchCommand.Settle settle = () -> log.add("|");
        StringWriter trace = new StringWriter();
        double[][] ms = BenchCommand.measure(runners, 2, 3, Double.POSITIVE_INFINITY, settle, new PrintWriter(trace));
        assertEquals(List.of("g", "o", "g", "o", "|", "g", "|", "o", "|", "g", "|", "o", "|", "g", "|", "o"), log);
        assertEquals(2, ms.length);
        assertEquals(3, ms[0].length);
        assertEquals(3, ms[1].length);
        List<String> lines = trace.toString().lines().toList();
        assertEquals(5, lines.size(), trace.toString());
        assertTrue(lines.get(0).startsWith("warm-up     1") && lines.get(4).startsWith("run         3"), trace.toString());
        for (double[] m : ms) {
            for (double v : m) {
                assertTrue(v >= 0, "latency " + v);
            }
        }
        log.clear();
        double[][] limited = BenchCommand.measure(runners, 0, 100, 1e-12, settle, null);
        assertEquals(List.of("|", "g", "|", "o"), log);
        assertEquals(1, limited[0].length);
    }

    @Test
    void processCpuTimeIsReadableAndSettlingReturns() throws InterruptedException {
        long a = ProcessIdle.cpuNanos();
        if (System.getProperty("os.name").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            assertTrue(a > 0, "CLOCK_PROCESS_CPUTIME_ID unreadable");
            double x = 0;
            for (int i = 0; i < 2_000_000; i++) {
                x += Math.sqrt(i);
            }
            assertTrue(x > 0);
            assertTrue(ProcessIdle.cpuNanos() > a, "CPU time did not advance over busy work");
        }
        ProcessIdle.await();
    }

    // ---------------------------------------------------------------------------------------- a minimal JSON reader

    /** Just enough JSON to check the output: objects, strings, numbers (as Double), null, true, false. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> object(String text) {
            Json p = new Json(text);
            Object v = p.value();
            p.space();
            assertEquals(text.length(), p.i, "trailing text after the JSON value: " + text);
            assertInstanceOf(Map.class, v, text);
            return (Map<String, Object>) v;
        }

        private void space() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            space();
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                space();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    space();
                    String k = string();
                    space();
                    expect(':');
                    assertNull(m.put(k, value()), "duplicate key " + k);
                    space();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect('}');
                        return m;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            for (String w : new String[] {"null", "true", "false"}) {
                if (s.startsWith(w, i)) {
                    i += w.length();
                    return w.equals("null") ? null : Boolean.valueOf(w);
                }
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            assertTrue(i > start, "a JSON value at " + start + " in " + s);
            return Double.parseDouble(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (s.charAt(i) != '"') {
                char c = s.charAt(i++);
                if (c == '\\') {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n' -> b.append('\n');
                        case 't' -> b.append('\t');
                        case 'r' -> b.append('\r');
                        case 'u' -> {
                            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            i += 4;
                        }
                        default -> b.append(e);
                    }
                } else {
                    assertTrue(c >= 0x20, "raw control character in a JSON string");
                    b.append(c);
                }
            }
            i++;
            return b.toString();
        }

        private void expect(char c) {
            assertEquals(c, s.charAt(i), "at " + i + " in " + s);
            i++;
        }
    }
}
