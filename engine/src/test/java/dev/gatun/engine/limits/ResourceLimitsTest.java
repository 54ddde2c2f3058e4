package dev.gatun.engine.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.EngineException.Kind;
import dev.gatun.engine.LoadOptions;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models and inputs built to exhaust memory ("bombs"): each is refused with an {@link EngineException} naming the
 * problem before the memory is allocated, and the process's peak heap and resident memory grow by less than
 * 256 MiB meanwhile ({@link MemoryWatch}). Unless a test says otherwise the default limits are in force, so these
 * also show that the defaults protect.
 */
class ResourceLimitsTest {
    private static final int FLOAT = 1;
    private static final int INT64 = 7;
    private static final long TWO_40 = 1L << 40;

    @TempDir
    Path dir;

    // ---- model files that lie about sizes ----

    @Test
    void initializerDeclaringTwoToThe40ElementsWithLittleData() {
        EngineException raw = refuse("raw_data 2^40", () -> load(model(graphWithInit(raw("w", 16, TWO_40)))));
        assertMessage(raw, Kind.MODEL_LOAD, "initializer 'w'", "raw_data holds 16 bytes", "needs " + (TWO_40 * 4));
        EngineException typed = refuse("float_data 2^40", () -> load(model(graphWithInit(
                Onnx.TensorProto.newBuilder().setName("w").setDataType(FLOAT).addDims(TWO_40).addFloatData(1).addFloatData(2)))));
        assertMessage(typed, Kind.MODEL_LOAD, "initializer 'w'", "float_data holds 2 values", "need " + TWO_40);
    }

    @Test
    void negativeDimensions() {
        EngineException e = refuse("negative dims", () -> load(model(graphWithInit(raw("w", 16, -1, 4)))));
        assertMessage(e, Kind.MODEL_LOAD, "initializer 'w'", "negative dimension -1");
    }

    @Test
    void dimensionProductOverflowingLong() {
        EngineException e = refuse("overflowing dims", () -> load(model(graphWithInit(raw("w", 16, 1L << 32, 1L << 32, 1L << 32)))));
        assertMessage(e, Kind.MODEL_LOAD, "initializer 'w'", "overflows");
    }

    @Test
    void tenMegabyteFileClaimingAHundredGigabyteTensor() throws IOException {
        long elements = 25_000_000_000L;
        Onnx.TensorProto.Builder t = raw("w", 10 << 20, elements);
        Path f = dir.resolve("claims-100gb.onnx");
        Files.write(f, model(graphWithInit(t)).build().toByteArray());
        assertTrue(Files.size(f) > 10_000_000);
        EngineException e = refuse("10 MB claiming 100 GB", () -> Model.load(f).close());
        assertMessage(e, Kind.MODEL_LOAD, "raw_data holds " + (10 << 20) + " bytes", "needs " + elements * 4);
    }

    @Test
    void externalDataClaimingMoreThanItsFileHolds() throws IOException {
        try (RandomAccessFile w = new RandomAccessFile(dir.resolve("weights.bin").toFile(), "rw")) {
            w.setLength(1 << 20);
        }
        long elements = 25_000_000_000L;
        Path f = dir.resolve("ext.onnx");
        Files.write(f, model(graphWithInit(external("w", "weights.bin", "100000000000", elements))).build().toByteArray());
        EngineException e = refuse("external 100 GB", () -> Model.load(f).close());
        assertMessage(e, Kind.LIMIT, "initializer 'w'", "needs 100000000000 bytes", "LoadOptions.maxTensorBytes");
        long half = 500_000_000L;
        Files.write(f, model(graphWithInit(external("w", "weights.bin", null, half))).build().toByteArray());
        EngineException beyond = refuse("external 2 GB from a 1 MB file", () -> Model.load(f).close());
        assertMessage(beyond, Kind.MODEL_LOAD, "initializer 'w'", "lies beyond the end of 'weights.bin'", "1048576 bytes");
        Files.write(f, model(graphWithInit(external("w", "weights.bin", "4096", half))).build().toByteArray());
        EngineException mismatch = refuse("external length vs dims", () -> Model.load(f).close());
        assertMessage(mismatch, Kind.MODEL_LOAD, "length 4096 does not match", Long.toString(half * 4));
    }

    @Test
    void sparseInitializerDensifyingToTwoToThe40Elements() {
        Onnx.SparseTensorProto.Builder sp = Onnx.SparseTensorProto.newBuilder().addDims(TWO_40)
                .setValues(Onnx.TensorProto.newBuilder().setName("w").setDataType(FLOAT).addDims(0))
                .setIndices(Onnx.TensorProto.newBuilder().setName("i").setDataType(INT64).addDims(0));
        Onnx.GraphProto.Builder g = addGraph().addSparseInitializer(sp);
        EngineException e = refuse("sparse 2^40", () -> load(model(g)));
        assertMessage(e, Kind.LIMIT, "sparse initializer 'w'", "over the limit of", "LoadOptions.maxTensorBytes");
    }

    // ---- graphs built to exhaust the loader ----

    @Test
    void subgraphsNestedAThousandDeep() {
        Onnx.GraphProto.Builder inner = Onnx.GraphProto.newBuilder().setName("leaf").addOutput(value("c", FLOAT));
        for (int i = 0; i < 1000; i++) {
            Onnx.NodeProto.Builder iff = Onnx.NodeProto.newBuilder().setOpType("If").addInput("c").addOutput("o" + i)
                    .addAttribute(Onnx.AttributeProto.newBuilder().setName("then_branch").setType(Onnx.AttributeProto.AttributeType.GRAPH).setG(inner))
                    .addAttribute(Onnx.AttributeProto.newBuilder().setName("else_branch").setType(Onnx.AttributeProto.AttributeType.GRAPH)
                            .setG(Onnx.GraphProto.newBuilder().setName("leaf").addOutput(value("c", FLOAT))));
            inner = Onnx.GraphProto.newBuilder().setName("g" + i).addNode(iff).addOutput(value("o" + i, FLOAT));
        }
        Onnx.GraphProto.Builder top = inner.addInput(value("c", 9));
        EngineException e = refuse("If nested 1000 deep", () -> load(model(top)));
        assertMessage(e, Kind.LIMIT, "nested more than 16 levels", "LoadOptions.maxNestingDepth");
    }

    @Test
    void typeProtosNestedAThousandDeep() {
        Onnx.TypeProto.Builder t = Onnx.TypeProto.newBuilder().setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(FLOAT));
        for (int i = 0; i < 1000; i++) {
            t = Onnx.TypeProto.newBuilder().setSequenceType(Onnx.TypeProto.Sequence.newBuilder().setElemType(t));
        }
        Onnx.GraphProto.Builder g = addGraph().addValueInfo(Onnx.ValueInfoProto.newBuilder().setName("deep").setType(t));
        EngineException e = refuse("type nested 1000 deep", () -> load(model(g)));
        assertMessage(e, Kind.LIMIT, "nested more than 64 levels");
    }

    @Test
    void cycle() {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("g").addInput(value("x", FLOAT, 2)).addOutput(value("b", FLOAT, 2))
                .addNode(Onnx.NodeProto.newBuilder().setName("A").setOpType("Add").addInput("x").addInput("b").addOutput("a"))
                .addNode(Onnx.NodeProto.newBuilder().setName("B").setOpType("Relu").addInput("a").addOutput("b"));
        EngineException e = refuse("cycle", () -> load(model(g)));
        assertMessage(e, Kind.MODEL_LOAD, "cycle", "A", "B");
    }

    @Test
    void fiveMillionEmptyNodesInTenMegabytes() throws IOException {
        // ModelProto{ir_version: 8, opset_import{version: 17}, graph{node{} x 5M}} written on the wire directly.
        int n = 5_000_000;
        ByteArrayOutputStream out = new ByteArrayOutputStream(2 * n + 64);
        out.write(new byte[] {0x08, 0x08, 0x42, 0x02, 0x10, 0x11, 0x3a});
        writeVarint(out, 2L * n);
        byte[] node = {0x0a, 0x00};
        for (int i = 0; i < n; i++) {
            out.write(node, 0, 2);
        }
        Path f = dir.resolve("nodes.onnx");
        Files.write(f, out.toByteArray());
        out = null;
        EngineException e = refuse("5M nodes", () -> Model.load(f).close());
        assertMessage(e, Kind.LIMIT, "more than 1000000 nodes", "LoadOptions.maxNodes");
    }

    @Test
    void constantFoldingPastTheConstantMemoryLimit() {
        // 16 ConstantOfShape nodes of 1 MiB each, all outputs: folded at load into 16 MiB of constants.
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("g")
                .addInitializer(Onnx.TensorProto.newBuilder().setName("shape").setDataType(INT64).addDims(1).addInt64Data(1 << 18));
        for (int i = 0; i < 16; i++) {
            g.addNode(Onnx.NodeProto.newBuilder().setOpType("ConstantOfShape").addInput("shape").addOutput("c" + i));
            g.addOutput(value("c" + i, FLOAT, 1 << 18));
        }
        LoadOptions small = LoadOptions.defaults().withMaxInitializerBytes(4 << 20);
        EngineException e = refuse("folding 16 MiB under a 4 MiB limit",
                () -> Model.load(model(g).build().toByteArray(), "fold.onnx", small).close());
        assertMessage(e, Kind.LIMIT, "constant memory limit", "LoadOptions.maxInitializerBytes");
        Model.load(model(g).build().toByteArray(), "fold.onnx", LoadOptions.defaults().withMaxInitializerBytes(32 << 20)).close();
    }

    @Test
    void constantOfShapeFoldedToTwoToThe40Elements() {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("g")
                .addInitializer(Onnx.TensorProto.newBuilder().setName("shape").setDataType(INT64).addDims(2).addInt64Data(1 << 20).addInt64Data(1 << 20))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("ConstantOfShape").addInput("shape").addOutput("c"))
                .addOutput(value("c", FLOAT, 1 << 20, 1 << 20));
        EngineException e = refuse("folded ConstantOfShape 2^40", () -> load(model(g)));
        assertMessage(e, Kind.LIMIT, "needs " + (TWO_40 * 4), "over the limit of");
    }

    @Test
    void loadLimitsAreConfigurable() {
        byte[] twoNodes = model(addGraph().addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("y").addOutput("z"))
                .addOutput(value("z", FLOAT, 2))).build().toByteArray();
        Model.load(twoNodes, "two.onnx", LoadOptions.defaults().withMaxNodes(2)).close();
        EngineException nodes = assertThrows(EngineException.class,
                () -> Model.load(twoNodes, "two.onnx", LoadOptions.defaults().withMaxNodes(1)).close());
        assertMessage(nodes, Kind.LIMIT, "two.onnx", "more than 1 nodes");
        byte[] init = model(graphWithInit(raw("w", 64, 16))).build().toByteArray();
        EngineException tensor = assertThrows(EngineException.class,
                () -> Model.load(init, "w.onnx", LoadOptions.defaults().withMaxTensorBytes(32)).close());
        assertMessage(tensor, Kind.LIMIT, "initializer 'w'", "needs 64 bytes", "over the limit of 32");
        Onnx.GraphProto.Builder leaf = Onnx.GraphProto.newBuilder().setName("leaf").addOutput(value("c", FLOAT));
        Onnx.GraphProto.Builder oneIf = Onnx.GraphProto.newBuilder().setName("g").addInput(value("c", 9)).addOutput(value("o", FLOAT))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("If").addInput("c").addOutput("o")
                        .addAttribute(Onnx.AttributeProto.newBuilder().setName("then_branch").setType(Onnx.AttributeProto.AttributeType.GRAPH).setG(leaf)));
        EngineException depth = assertThrows(EngineException.class,
                () -> Model.load(model(oneIf).build().toByteArray(), "if.onnx", LoadOptions.defaults().withMaxNestingDepth(0)).close());
        assertMessage(depth, Kind.LIMIT, "nested more than 0 levels");
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.defaults().withMaxNestingDepth(101));
    }

    // ---- run-time shapes computed from data ----

    @Test
    void expandTileConstantOfShapeResizeRangePadReshapeWhoseOutputWouldNotFit() {
        runRefused("Expand", Kind.LIMIT, "Expand", Map.of("x", floats(1)), ints("shape", 1 << 20, 1 << 20), "x", "shape");
        runRefused("Expand overflow", Kind.LIMIT, "Expand", Map.of("x", floats(1)), ints("shape", 1L << 32, 1L << 32, 1L << 32), "x", "shape");
        runRefused("Tile", Kind.LIMIT, "Tile", Map.of("x", floats(2, 2)), ints("repeats", 1 << 20, 1 << 20), "x", "repeats");
        runRefused("ConstantOfShape", Kind.LIMIT, "ConstantOfShape", Map.of("shape", longs(1 << 20, 1 << 20)), null, "shape");
        runRefused("Resize", Kind.LIMIT, "Resize", Map.of("x", floats(1, 1, 2, 2)),
                Onnx.TensorProto.newBuilder().setName("scales").setDataType(FLOAT).addDims(4).addFloatData(1).addFloatData(1)
                        .addFloatData(1e6f).addFloatData(1e6f), "x", "", "scales");
        runRefused("Range", Kind.LIMIT, "Range", Map.of("start", scalar(0), "limit", scalar(1L << 50), "delta", scalar(1)), null,
                "start", "limit", "delta");
        runRefused("Pad", Kind.LIMIT, "Pad", Map.of("x", floats(2, 2)), ints("pads", 0, 0, 1L << 30, 1L << 30), "x", "pads");
        EngineException reshape = runRefused("Reshape", null, "Reshape", Map.of("x", floats(4)), ints("shape", TWO_40), "x", "shape");
        assertTrue(reshape.getMessage().contains("Reshape"), reshape.getMessage());
    }

    @Test
    void sessionMemoryLimitBoundsWhatOneRunHolds() {
        // 32 branches of 1 MiB, all alive until the final Sum: 32 MiB of activations.
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("g").addInput(value("x", FLOAT, 1 << 18)).addOutput(value("y", FLOAT, 1 << 18));
        Onnx.NodeProto.Builder sum = Onnx.NodeProto.newBuilder().setOpType("Sum").addOutput("y");
        for (int i = 0; i < 32; i++) {
            g.addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("x").addOutput("r" + i));
            sum.addInput("r" + i);
        }
        g.addNode(sum);
        byte[] bytes = model(g).build().toByteArray();
        MemoryWatch.assertBelowLimit("session memory", () -> {
            try (Model m = Model.load(bytes, "branches.onnx");
                 Session capped = m.newSession(SessionOptions.defaults().withMaxSessionBytes(8 << 20));
                 Session roomy = m.newSession(SessionOptions.defaults().withMaxSessionBytes(64 << 20));
                 Arena arena = Arena.ofConfined()) {
                Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(1 << 18));
                EngineException e = assertThrows(EngineException.class, () -> capped.run(Map.of("x", x)).close());
                assertMessage(e, Kind.LIMIT, "SessionOptions.maxSessionBytes", "8388608");
                assertTrue(capped.workspaceBytes() <= 8 << 20, "reserved " + capped.workspaceBytes());
                try (Result r = roomy.run(Map.of("x", x))) {
                    assertEquals(1 << 18, r.get("y").size());
                }
                EngineException again = assertThrows(EngineException.class, () -> capped.run(Map.of("x", x)).close());
                assertEquals(Kind.LIMIT, again.kind(), "a refused session stays usable and refuses again");
            }
        });
    }

    // ---- helpers ----

    /** Runs {@code body}, which must throw an EngineException, within the memory bound; returns the exception. */
    private static EngineException refuse(String what, Runnable body) {
        EngineException[] caught = new EngineException[1];
        MemoryWatch.assertBelowLimit(what, () -> caught[0] = assertThrows(EngineException.class, body::run));
        return caught[0];
    }

    /**
     * A one-node model {@code op(inputs...)} whose graph inputs are {@code given}'s tensors and whose constant is
     * {@code constant} (may be null); running it with default session limits must fail with {@code kind} (null:
     * any kind) within the memory bound.
     */
    private static EngineException runRefused(String what, Kind kind, String op, Map<String, Tensor> given,
                                              Onnx.TensorProto.Builder constant, String... inputs) {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("g").addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        for (Map.Entry<String, Tensor> e : given.entrySet()) {
            Tensor t = e.getValue();
            g.addInput(value(e.getKey(), t.dtype().onnxId(), t.shape().dims()));
        }
        if (constant != null) {
            g.addInitializer(constant);
        }
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setName(op + "_bomb").setOpType(op).addOutput("y");
        for (String in : inputs) {
            n.addInput(in);
        }
        g.addNode(n);
        byte[] bytes = model(g).build().toByteArray();
        EngineException[] caught = new EngineException[1];
        MemoryWatch.assertBelowLimit(what, () -> {
            try (Model m = Model.load(bytes, what + ".onnx"); Session s = m.newSession()) {
                caught[0] = assertThrows(EngineException.class, () -> s.run(given).close(), what);
            }
        });
        if (kind != null) {
            assertEquals(kind, caught[0].kind(), what + ": " + caught[0].getMessage());
        }
        assertTrue(caught[0].getMessage().contains(op), what + ": the message names the node: " + caught[0].getMessage());
        return caught[0];
    }

    private static void assertMessage(EngineException e, Kind kind, String... words) {
        assertEquals(kind, e.kind(), e.getMessage());
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "'" + e.getMessage() + "' should mention '" + w + "'");
        }
    }

    private static void load(Onnx.ModelProto.Builder m) {
        Model.load(m.build().toByteArray(), "bomb.onnx").close();
    }

    private static Onnx.ModelProto.Builder model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g);
    }

    private static Onnx.GraphProto.Builder addGraph() {
        return Onnx.GraphProto.newBuilder().setName("g").addInput(value("x", FLOAT, 2)).addOutput(value("y", FLOAT, 2))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("x").addOutput("y"));
    }

    private static Onnx.GraphProto.Builder graphWithInit(Onnx.TensorProto.Builder init) {
        return addGraph().addInitializer(init);
    }

    private static Onnx.ValueInfoProto.Builder value(String name, int type, long... dims) {
        Onnx.TypeProto.Tensor.Builder t = Onnx.TypeProto.Tensor.newBuilder().setElemType(type);
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder().setTensorType(t.setShape(s)));
    }

    private static Onnx.TensorProto.Builder raw(String name, int bytes, long... dims) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(FLOAT)
                .setRawData(ByteString.copyFrom(new byte[bytes]));
        for (long d : dims) {
            t.addDims(d);
        }
        return t;
    }

    private static Onnx.TensorProto.Builder external(String name, String location, String length, long... dims) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(FLOAT)
                .setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue(location));
        if (length != null) {
            t.addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length").setValue(length));
        }
        for (long d : dims) {
            t.addDims(d);
        }
        return t;
    }

    private static Onnx.TensorProto.Builder ints(String name, long... values) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(INT64).addDims(values.length);
        for (long v : values) {
            t.addInt64Data(v);
        }
        return t;
    }

    private static final Arena ARENA = Arena.ofAuto();

    private static Tensor floats(long... dims) {
        return Tensor.allocate(ARENA, DType.FLOAT, Shape.of(dims));
    }

    private static Tensor longs(long... values) {
        return Tensor.ofLongs(ARENA, values, values.length);
    }

    private static Tensor scalar(long v) {
        return Tensor.ofLongs(ARENA, new long[] {v});
    }

    private static void writeVarint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }
}
