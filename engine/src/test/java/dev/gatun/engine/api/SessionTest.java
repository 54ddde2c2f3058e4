package dev.gatun.engine.api;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The public API around a run: input validation, result ownership, workspace reuse, close semantics. */
class SessionTest {
    /** y = Transpose(x) with x: float[batch, 3], z = Transpose(Transpose(x)) as a second output. */
    static byte[] transposeModel() {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(3));
        Onnx.ValueInfoProto.Builder x = Onnx.ValueInfoProto.newBuilder().setName("x").setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s)));
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("t").addInput(x)
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("z"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Transpose").addInput("x").addOutput("y"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Transpose").addInput("y").addOutput("z"));
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build().toByteArray();
    }

    @Test
    void runsAndValidatesInputs() {
        try (Model m = Model.load(transposeModel(), "t.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            try (Result r = s.run(Map.of("x", x))) {
                assertEquals(Shape.of(3, 2), r.get("y").shape());
                assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, r.get("y").toFloatArray());
                assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, r.get("z").toFloatArray());
            }
            assertInvalid(s, Map.of("nope", x), "unknown input 'nope'");
            assertInvalid(s, Map.of(), "missing input 'x'");
            assertInvalid(s, Map.of("x", Tensor.ofLongs(a, new long[] {1, 2, 3}, 1, 3)), "int64");
            assertInvalid(s, Map.of("x", Tensor.ofFloats(a, new float[] {1, 2, 3}, 3)), "rank");
            assertInvalid(s, Map.of("x", Tensor.ofFloats(a, new float[] {1, 2, 3, 4}, 2, 2)), "dim 1 must be 3");
        }
    }

    private static void assertInvalid(Session s, Map<String, Tensor> in, String expect) {
        EngineException e = assertThrows(EngineException.class, () -> s.run(in));
        assertEquals(EngineException.Kind.INVALID_INPUT, e.kind());
        assertTrue(e.getMessage().contains(expect), e.getMessage());
    }

    @Test
    void steadyStateRunsReuseTheWorkspace() {
        try (Model m = Model.load(transposeModel(), "t.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.allocate(a, DType.FLOAT, Shape.of(64, 3));
            s.run(Map.of("x", x)).close();
            long after1 = s.workspaceBytes();
            for (int i = 0; i < 20; i++) {
                s.run(Map.of("x", x)).close();
            }
            assertEquals(after1, s.workspaceBytes(), "a steady-state run must not reserve new memory");
        }
    }

    @Test
    void runIntoCallerOutputsChecksThemAndFillsThem() {
        try (Model m = Model.load(transposeModel(), "t.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor y = Tensor.allocate(a, DType.FLOAT, Shape.of(3, 2));
            Tensor z = Tensor.allocate(a, DType.FLOAT, Shape.of(2, 3));
            s.run(Map.of("x", x), Map.of("y", y, "z", z));
            assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, y.toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, z.toFloatArray());
            EngineException e = assertThrows(EngineException.class, () -> s.run(Map.of("x", x), Map.of("y", z, "z", z)));
            assertEquals(EngineException.Kind.INVALID_INPUT, e.kind());
            assertTrue(e.getMessage().contains("output 'y'"), e.getMessage());
            assertThrows(EngineException.class, () -> s.run(Map.of("x", x), Map.of("y", y)));
        }
    }

    @Test
    void closedObjectsThrowInsteadOfReadingFreedMemory() {
        Tensor y;
        try (Model m = Model.load(transposeModel(), "t.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            Result r = s.run(Map.of("x", Tensor.ofFloats(a, new float[] {1, 2, 3}, 1, 3)));
            y = r.get("y");
            r.close();
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class, () -> r.get("y")).kind());
            assertThrows(IllegalStateException.class, () -> y.getFloat(0));
            s.close();
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class,
                    () -> s.run(Map.of("x", Tensor.ofFloats(a, new float[] {1, 2, 3}, 1, 3)))).kind());
        }
    }
}
