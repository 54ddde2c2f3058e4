package dev.gatun.cli;

import static org.junit.jupiter.api.Assertions.*;

import ai.onnxruntime.TensorInfo;
import com.google.protobuf.ByteString;
import dev.gatun.engine.io.Npy;
import dev.gatun.engine.io.TensorFiles;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line through picocli, with captured output: help, inspect, run, verify, conformance and errors. */
class GatunTest {
    @TempDir
    Path dir;

    record Outcome(int code, String out, String err) {
        List<String> errLines() {
            return err.isEmpty() ? List.of() : Arrays.asList(err.split("\n"));
        }
    }

    static Outcome exec(CommandLine cl, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Outcome(code, out.toString(), err.toString());
    }

    static Outcome gatun(String... args) {
        return exec(new CommandLine(new Gatun()), args);
    }

    // ---------------------------------------------------------------------------------------- tiny models

    static Onnx.ValueInfoProto.Builder value(String name, int type, Object... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            s.addDim(d instanceof String p ? Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam(p)
                    : Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(type).setShape(s)));
    }

    static Onnx.TensorProto.Builder floats(String name, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t;
    }

    static Onnx.ModelProto.Builder model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8).setProducerName("gatun-test").setProducerVersion("1")
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g);
    }

    /** y = Relu(x + w) then FooBar (an op no one has): x float[batch,4], w 4 floats. */
    static Onnx.ModelProto tiny(Onnx.TensorProto.Builder w) {
        return model(Onnx.GraphProto.newBuilder().setName("tiny")
                .addInitializer(w)
                .addInput(value("x", 1, "batch", 4))
                .addOutput(value("z", 1, "batch", 4))
                .addNode(Onnx.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("s"))
                .addNode(Onnx.NodeProto.newBuilder().setName("relu").setOpType("Relu").addInput("s").addOutput("y"))
                .addNode(Onnx.NodeProto.newBuilder().setName("foo").setOpType("FooBar").addInput("y").addOutput("z"))).build();
    }

    /** No nodes: the output is the input (runs on any registry, on Gatun and on ONNX Runtime). */
    static Onnx.ModelProto passThrough() {
        return model(Onnx.GraphProto.newBuilder().setName("pass")
                .addInput(value("x", 1, "batch", 3))
                .addInput(value("ids", 7, 2))
                .addOutput(value("x", 1, "batch", 3))
                .addOutput(value("ids", 7, 2))).build();
    }

    private Path write(String name, Onnx.ModelProto m) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, m.toByteArray());
        return f;
    }

    // ---------------------------------------------------------------------------------------- help

    @Test
    void helpListsTheCommandsAndMiniLm() {
        Outcome o = gatun("--help");
        assertEquals(0, o.code());
        for (String c : new String[] {"run", "verify", "inspect", "conformance", "minilm", "Exit codes"}) {
            assertTrue(o.out().contains(c), c + " missing from:\n" + o.out());
        }
        Outcome v = gatun("verify", "--help");
        assertEquals(0, v.code());
        assertTrue(v.out().contains("|a - e| <= atol * max|e| + rtol * |e|"), v.out());
        assertTrue(v.out().contains("--against"), v.out());
        assertTrue(gatun("run", "--help").out().contains("--int-range"));
        assertTrue(gatun("help", "conformance").out().contains("N passed, N failed, N skipped"));
        Outcome none = gatun();
        assertEquals(2, none.code());
        assertTrue(none.err().contains("Usage: gatun"), none.err());
    }

    // ---------------------------------------------------------------------------------------- inspect

    @Test
    void inspectShowsTheModelEvenWithUnsupportedOps() throws IOException {
        Path f = write("tiny.onnx", tiny(floats("w", new float[] {1, -2, 3, -4}, 4)));
        Outcome o = gatun("inspect", f.toString());
        assertEquals(0, o.code(), o.err());
        String out = o.out();
        assertTrue(out.contains("ir version: 8"), out);
        assertTrue(out.contains("producer:   gatun-test 1"), out);
        assertTrue(out.contains("opsets:     ai.onnx 17"), out);
        assertTrue(out.contains("  x: float[batch,4]"), out);
        assertTrue(out.contains("  z: float[batch,4]"), out);
        assertTrue(out.contains("3 nodes, 3 op types"), out);
        assertTrue(out.contains("parameters: 4 (16 B)"), out);
        assertTrue(line(out, "FooBar").endsWith("1  UNSUPPORTED at opset 17"), out);
        for (String op : new String[] {"Add", "Relu"}) {
            String expected = OpRegistry.supports("", op, 17) ? "supported" : "UNSUPPORTED at opset 17";
            assertTrue(line(out, "  " + op + " ").endsWith(expected), out);
        }
        assertTrue(out.contains("nodes to run"), out);
        assertTrue(line(out, "support:").contains("unsupported (") && line(out, "support:").contains("FooBar"), out);
    }

    private static String line(String text, String containing) {
        return text.lines().filter(l -> l.contains(containing)).findFirst().orElseThrow(() -> new AssertionError(containing + " in\n" + text));
    }

    // ---------------------------------------------------------------------------------------- bad models

    @Test
    void badModelsGiveOneLineAndExitCode1() throws IOException {
        byte[] good = tiny(floats("w", new float[] {1, -2, 3, -4}, 4)).toByteArray();
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, Arrays.copyOf(good, good.length * 2 / 3));
        Path text = dir.resolve("notes.onnx");
        Files.writeString(text, "These are my notes, not a model.\nSecond line.\n");
        Onnx.TensorProto.Builder ext = Onnx.TensorProto.newBuilder().setName("w").setDataType(1).addDims(4)
                .setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue("../../etc/passwd"))
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length").setValue("16"));
        Path escape = write("escape.onnx", tiny(ext));
        for (Path bad : List.of(truncated, text, escape)) {
            for (String cmd : new String[] {"inspect", "run", "verify"}) {
                Outcome o = cmd.equals("verify") ? gatun(cmd, bad.toString(), "--against", "ort") : gatun(cmd, bad.toString());
                String what = cmd + " " + bad.getFileName() + ": " + o.err();
                assertEquals(1, o.code(), what);
                assertEquals(1, o.errLines().size(), "exactly one line: " + what);
                assertTrue(o.err().startsWith("gatun: "), what);
                assertTrue(o.err().contains(bad.getFileName().toString()), "names the file: " + what);
                assertEquals("", o.out(), what);
            }
        }
        assertTrue(gatun("inspect", truncated.toString()).err().contains("truncated"));
        assertTrue(gatun("inspect", escape.toString()).err().contains("initializer 'w'"));
        Outcome verbose = gatun("--verbose", "inspect", text.toString());
        assertEquals(1, verbose.code());
        assertTrue(verbose.errLines().size() > 1 && verbose.err().contains("\tat "), "--verbose adds the stack trace");
        Outcome after = gatun("inspect", text.toString(), "--verbose");
        assertTrue(after.err().contains("\tat "), "--verbose is accepted after the subcommand too");
    }

    @Test
    void unsupportedOpsMissingFilesAndBadArgumentsAreOneLine() throws IOException {
        Path f = write("tiny.onnx", tiny(floats("w", new float[] {1, -2, 3, -4}, 4)));
        Outcome run = gatun("run", f.toString());
        assertEquals(1, run.code());
        assertEquals(1, run.errLines().size(), run.err());
        assertTrue(run.err().contains("FooBar"), run.err());

        Outcome missing = gatun("run", dir.resolve("nope.onnx").toString());
        assertEquals(2, missing.code());
        assertEquals(1, missing.errLines().size(), missing.err());
        assertTrue(missing.err().startsWith("gatun: ") && missing.err().contains("no such file"), missing.err());

        Outcome badOpt = exec(Gatun.commandLine(), "run", f.toString(), "--bogus");
        assertEquals(2, badOpt.code());
        assertEquals(List.of("gatun: Unknown option: '--bogus' (see 'gatun run --help')"), badOpt.errLines());
        Outcome noModel = exec(Gatun.commandLine(), "inspect");
        assertEquals(2, noModel.code());
        assertEquals(1, noModel.errLines().size(), noModel.err());
        Outcome against = gatun("verify", f.toString(), "--against", "tensorflow");
        assertEquals(2, against.code());
        assertTrue(against.err().contains("'ort'"), against.err());
        Outcome threads = gatun("run", f.toString(), "--threads", "0");
        assertEquals(2, threads.code());
    }

    // ---------------------------------------------------------------------------------------- run, verify

    @Test
    void runMakesSeededInputsAndWritesOutputs() throws IOException {
        Path f = write("pass.onnx", passThrough());
        Path outDir = dir.resolve("out");
        Outcome o = gatun("run", f.toString(), "--dim", "batch=5", "--seed", "3", "--output", outDir.toString());
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("input   x  float[5,3]  random N(0,1)"), o.out());
        assertTrue(o.out().contains("input   ids  int64[2]  random uniform [0, 100)"), o.out());
        assertTrue(o.out().contains("output  x  float[5,3]  min "), o.out());
        try (Arena arena = Arena.ofConfined()) {
            Tensor saved = Npy.read(outDir.resolve("x.npy"), arena);
            assertEquals(Shape.of(5, 3), saved.shape());
            Path again = dir.resolve("again");
            assertEquals(0, gatun("run", f.toString(), "--dim", "batch=5", "--seed", "3", "--output", again.toString()).code());
            assertEquals(-1, saved.data().mismatch(Npy.read(again.resolve("x.npy"), arena).data()), "same seed, same inputs");
            Path other = dir.resolve("other");
            assertEquals(0, gatun("run", f.toString(), "--dim", "batch=5", "--seed", "4", "--output", other.toString()).code());
            assertNotEquals(-1, saved.data().mismatch(Npy.read(other.resolve("x.npy"), arena).data()), "another seed, other inputs");
            float mean = 0;
            for (float v : saved.toFloatArray()) {
                assertTrue(Math.abs(v) < 6, "N(0,1)");
                mean += v;
            }
            assertTrue(Math.abs(mean / 15) < 1.5f);

            // --input from .npy and .pb; unset symbolic dim noted.
            Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Path xf = dir.resolve("x_in.npy");
            Npy.write(xf, x);
            Path idsf = dir.resolve("ids.pb");
            TensorFiles.write(idsf, Tensor.ofLongs(arena, new long[] {7, 8}, 2));
            Outcome fromFiles = gatun("run", f.toString(), "--input", "x=" + xf, "--input", "ids=" + idsf);
            assertEquals(0, fromFiles.code(), fromFiles.err());
            assertTrue(fromFiles.out().contains("min 1.0000  max 6.0000  mean 3.5000  first [1.0000, 2.0000, 3.0000, 4.0000, 5.0000, 6.0000]"),
                    fromFiles.out());
            Outcome noted = gatun("run", f.toString());
            assertEquals(0, noted.code());
            assertTrue(noted.err().contains("note: dim 'batch' set to 1 (choose it with --dim batch=N)"), noted.err());
        }
        Outcome badDim = gatun("run", f.toString(), "--dim", "sequence=4");
        assertEquals(2, badDim.code());
        assertTrue(badDim.err().contains("symbolic dims are [batch]"), badDim.err());
        Outcome badInput = gatun("run", f.toString(), "--input", "y=" + dir.resolve("y.npy"));
        assertEquals(2, badInput.code());
        assertTrue(badInput.err().contains("no input 'y'"), badInput.err());
        Outcome missingInput = gatun("run", f.toString(), "--input", "x=" + dir.resolve("none.npy"));
        assertEquals(2, missingInput.code());
        Outcome outIsFile = gatun("run", f.toString(), "--output", f.toString());
        assertEquals(2, outIsFile.code());
        assertTrue(outIsFile.err().contains("is not a directory"), outIsFile.err());
        Outcome range = gatun("run", f.toString(), "--int-range", "5:5");
        assertEquals(2, range.code());
        assertTrue(range.err().contains("HI must be greater than LO"), range.err());
    }

    @Test
    void intRangeMaskAndTokenTypeRules() throws IOException {
        Onnx.ModelProto m = model(Onnx.GraphProto.newBuilder().setName("bert-ish")
                .addInput(value("input_ids", 7, "b", "s"))
                .addInput(value("attention_mask", 7, "b", "s"))
                .addInput(value("token_type_ids", 7, "b", "s"))
                .addOutput(value("input_ids", 7, "b", "s"))
                .addOutput(value("attention_mask", 7, "b", "s"))
                .addOutput(value("token_type_ids", 7, "b", "s"))).build();
        Path f = write("bert.onnx", m);
        Path out = dir.resolve("o");
        Outcome o = gatun("run", f.toString(), "--dim", "b=2", "--dim", "s=50", "--int-range", "1000:1003", "--output", out.toString());
        assertEquals(0, o.code(), o.err());
        try (Arena arena = Arena.ofConfined()) {
            for (long v : Npy.read(out.resolve("input_ids.npy"), arena).toLongArray()) {
                assertTrue(v >= 1000 && v < 1003, "in --int-range: " + v);
            }
            assertTrue(Arrays.stream(Npy.read(out.resolve("attention_mask.npy"), arena).toLongArray()).allMatch(v -> v == 1));
            assertTrue(Arrays.stream(Npy.read(out.resolve("token_type_ids.npy"), arena).toLongArray()).allMatch(v -> v == 0));
            assertEquals(DType.INT64, Npy.read(out.resolve("input_ids.npy"), arena).dtype());
        }
    }

    @Test
    void verifyAgainstOnnxRuntimePassesOnAPassThroughModel() throws IOException {
        Path f = write("pass.onnx", passThrough());
        Outcome o = gatun("verify", f.toString(), "--against", "ort", "--dim", "batch=4");
        assertEquals(0, o.code(), o.out() + o.err());
        List<String> lines = o.out().lines().toList();
        assertEquals("PASS", lines.getLast());
        assertTrue(o.out().contains("x  float[4,3]  max abs err 0  max rel err 0  0% of tolerance  ok"), o.out());
        assertTrue(o.out().contains("ids  int64[2]  max abs err 0  max rel err 0  ok"), o.out());
    }

    @Test
    void onnxRuntimeElementTypesMapByName() {
        assertEquals(DType.FLOAT, OrtRunner.dtypeOf(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT));
        assertEquals(DType.INT64, OrtRunner.dtypeOf(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
        assertEquals(DType.BFLOAT16, OrtRunner.dtypeOf(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16));
        assertNull(OrtRunner.dtypeOf(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64));
    }

    @Test
    void verifyReportsUnsupportedModelsAsOneLine() throws IOException {
        Path f = write("tiny.onnx", tiny(floats("w", new float[] {1, -2, 3, -4}, 4)));
        Outcome o = gatun("verify", f.toString(), "--against", "ort");
        assertEquals(1, o.code());
        assertEquals(1, o.errLines().size(), o.err());
        assertTrue(o.err().contains("FooBar"), o.err());
    }

    // ---------------------------------------------------------------------------------------- conformance

    @Test
    void conformanceCountsPassFailAndSkip() throws IOException {
        Path root = dir.resolve("node");
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor ids = Tensor.ofLongs(arena, new long[] {4, 5}, 2);
            nodeTest(root.resolve("test_pass"), passThrough(), x, ids, x);
            nodeTest(root.resolve("test_wrong"), passThrough(), x, ids, Tensor.ofFloats(arena, new float[] {1, 2, 4}, 1, 3));
            nodeTest(root.resolve("test_unsupported"), tiny(floats("w", new float[] {1, -2, 3, -4}, 4)),
                    Tensor.ofFloats(arena, new float[] {1, 2, 3, 4}, 1, 4), null, Tensor.ofFloats(arena, new float[] {1, 2, 3, 4}, 1, 4));
        }
        Outcome o = gatun("conformance", root.toString());
        assertEquals(1, o.code(), o.out() + o.err());
        List<String> lines = o.out().lines().toList();
        assertEquals("1 passed, 1 failed, 1 skipped", lines.getLast(), o.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("FAIL test_wrong: ")), o.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("SKIP test_unsupported: ") && l.contains("FooBar")), o.out());
        assertEquals(3, lines.size(), "passing tests are not listed:\n" + o.out());

        Outcome only = gatun("conformance", root.toString(), "--filter", "pass$");
        assertEquals(0, only.code(), only.out());
        assertEquals(List.of("1 passed, 0 failed, 0 skipped"), only.out().lines().toList());
        assertEquals(2, gatun("conformance", root.toString(), "--device", "gpu").code());
        assertEquals(2, gatun("conformance", dir.resolve("none").toString()).code());
        assertEquals(2, gatun("conformance", root.toString(), "--filter", "(").code());
    }

    private static void nodeTest(Path folder, Onnx.ModelProto m, Tensor in0, Tensor in1, Tensor out0) throws IOException {
        Path set = folder.resolve("test_data_set_0");
        Files.createDirectories(set);
        Files.write(folder.resolve("model.onnx"), m.toByteArray());
        TensorFiles.write(set.resolve("input_0.pb"), in0);
        if (in1 != null) {
            TensorFiles.write(set.resolve("input_1.pb"), in1);
            TensorFiles.write(set.resolve("output_1.pb"), in1);
        }
        TensorFiles.write(set.resolve("output_0.pb"), out0);
    }

    // ---------------------------------------------------------------------------------------- minilm

    @Test
    void miniLmIsExtractedOnceAndInspectable() throws IOException {
        String before = System.getProperty("gatun.cache.dir");
        System.setProperty("gatun.cache.dir", dir.resolve("cache").toString());
        try {
            Outcome first = gatun("inspect", "minilm");
            assertEquals(0, first.code(), first.err());
            assertTrue(first.err().contains("extracting the built-in model 'minilm'"), first.err());
            assertTrue(first.out().contains("input_ids: int64[batch_size,sequence_length]"), first.out());
            assertTrue(first.out().contains("last_hidden_state: float[batch_size,sequence_length,384]"), first.out());
            Path cached = dir.resolve("cache/models/all-minilm-l6-v2.onnx");
            assertTrue(Files.size(cached) > 80_000_000);
            try (var s = Files.list(cached.getParent())) {
                assertEquals(1, s.count(), "no temporary file left behind");
            }
            Outcome second = gatun("inspect", "minilm");
            assertEquals(0, second.code());
            assertEquals("", second.err(), "reused, not extracted again");
        } finally {
            if (before == null) {
                System.clearProperty("gatun.cache.dir");
            } else {
                System.setProperty("gatun.cache.dir", before);
            }
        }
    }
}
