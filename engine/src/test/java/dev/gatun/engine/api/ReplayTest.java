package dev.gatun.engine.api;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The workspace replays a recorded run for repeated input shapes; these runs check that replay, a change of
 * shapes, and data-dependent shapes (which must abandon the replay) all give the same answers as a fresh session.
 */
class ReplayTest {
    /** Input x: float[n]. */
    static Onnx.ValueInfoProto.Builder vectorInput() {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("n"));
        return Onnx.ValueInfoProto.newBuilder().setName("x").setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s)));
    }

    /** z = NonZero(Relu(x)) (data-dependent shape), s = Add(x, x), both from x: float[n]. */
    static byte[] model() {
        Onnx.ValueInfoProto.Builder x = vectorInput();
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("r").addInput(x)
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("z"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("s"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("x").addOutput("r"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("NonZero").addInput("r").addOutput("nz"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("x").addOutput("s"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Identity").addInput("nz").addOutput("z"));
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build().toByteArray();
    }

    @Test
    void replayedRunsMatchFreshRuns() {
        Random rnd = new Random(7);
        try (Model m = Model.load(model(), "r.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            for (int i = 0; i < 40; i++) {
                int n = (i / 5) % 2 == 0 ? 33 : 7;
                float[] v = new float[n];
                int positives = 0;
                for (int k = 0; k < n; k++) {
                    v[k] = rnd.nextFloat() - 0.5f;
                    positives += v[k] > 0 ? 1 : 0;
                }
                try (Result r = s.run(Map.of("x", Tensor.ofFloats(a, v, n)))) {
                    assertEquals(Shape.of(1, positives), r.get("z").shape(), "run " + i);
                    long[] idx = r.get("z").toLongArray();
                    int j = 0;
                    for (int k = 0; k < n; k++) {
                        if (v[k] > 0) {
                            assertEquals(k, idx[j++], "run " + i);
                        }
                    }
                    float[] sum = r.get("s").toFloatArray();
                    for (int k = 0; k < n; k++) {
                        assertEquals(2 * v[k], sum[k], "run " + i);
                    }
                }
            }
        }
    }

    /** a = Relu(x), b = Sigmoid(a), c = Tanh(b), d = Add(c, a), e = Mul(d, b): values that outlive their successors. */
    static byte[] chain() {
        Onnx.ValueInfoProto.Builder x = vectorInput();
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("c").addInput(x)
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("e"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("x").addOutput("a"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Sigmoid").addInput("a").addOutput("b"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Tanh").addInput("b").addOutput("c"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Add").addInput("c").addInput("a").addOutput("d"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Mul").addInput("d").addInput("b").addOutput("e"));
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build().toByteArray();
    }

    /**
     * Replays from planned blocks (buffers live together at disjoint offsets) give a fresh session's answers, for
     * more input shapes than the workspace keeps recordings of (dropped recordings free their blocks).
     */
    @Test
    void plannedReplaysMatchFreshRuns() {
        Random rnd = new Random(8);
        int[] sizes = {1000, 17, 4096, 1, 333, 2048};
        try (Model m = Model.load(chain(), "c.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined()) {
            for (int i = 0; i < 60; i++) {
                int n = sizes[(i / 3) % sizes.length];
                float[] v = new float[n];
                for (int k = 0; k < n; k++) {
                    v[k] = rnd.nextFloat() * 4 - 2;
                }
                float[] want;
                try (Model fresh = Model.load(chain(), "c.onnx"); Session f = fresh.newSession();
                     Result r = f.run(Map.of("x", Tensor.ofFloats(a, v, n)))) {
                    want = r.get("e").toFloatArray();
                }
                try (Result r = s.run(Map.of("x", Tensor.ofFloats(a, v, n)))) {
                    assertArrayEquals(want, r.get("e").toFloatArray(), "run " + i + ", n = " + n);
                }
            }
            assertTrue(s.workspaceBytes() > 0);
        }
    }
}
