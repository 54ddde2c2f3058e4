package dev.gatun.engine.onnx;

import static org.junit.jupiter.api.Assertions.*;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model with a {@code sparse_initializer} built by hand from the ONNX spec (SparseTensorProto: values [NNZ] named as
 * the initializer, indices [NNZ] linear or [NNZ, rank] coordinates in ascending order, dims), the way another tool
 * would write it: Gatun loads and runs it, and ONNX Runtime computes the same. Also the errors for bad indices.
 */
class SparseInitializerTest {
    @TempDir
    Path dir;

    /** W [4, 3] = [[0, 2, 0], [1, 0, 0], [0, 0, -3], [0, 4, 0]]: nonzeros at linear 1, 3, 8, 10. */
    static final float[] VALUES = {2, 1, -3, 4};
    static final long[] LINEAR = {1, 3, 8, 10};
    static final long[] COORDS = {0, 1, 1, 0, 2, 2, 3, 1};
    static final float[] X = {1, 2, 3, 4, -1, 0.5f, 2, -2};

    static Onnx.TensorProto.Builder indices(int type, boolean raw, long[] v, long... dims) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setDataType(type);
        for (long d : dims) {
            t.addDims(d);
        }
        int width = switch (type) {
            case 3 -> 1;
            case 5 -> 2;
            case 6 -> 4;
            default -> 8;
        };
        if (raw) {
            ByteBuffer b = ByteBuffer.allocate(v.length * width).order(ByteOrder.LITTLE_ENDIAN);
            for (long x : v) {
                switch (width) {
                    case 1 -> b.put((byte) x);
                    case 2 -> b.putShort((short) x);
                    case 4 -> b.putInt((int) x);
                    default -> b.putLong(x);
                }
            }
            t.setRawData(ByteString.copyFrom(b.array()));
        } else if (type == 7) {
            for (long x : v) {
                t.addInt64Data(x);
            }
        } else {
            for (long x : v) {
                t.addInt32Data((int) x);
            }
        }
        return t;
    }

    static Onnx.SparseTensorProto.Builder sparseW(Onnx.TensorProto.Builder indices) {
        Onnx.TensorProto.Builder values = Onnx.TensorProto.newBuilder().setName("W").setDataType(1).addDims(VALUES.length);
        for (float f : VALUES) {
            values.addFloatData(f);
        }
        return Onnx.SparseTensorProto.newBuilder().setValues(values).setIndices(indices).addDims(4).addDims(3);
    }

    static byte[] model(Onnx.SparseTensorProto.Builder w) {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("sparse")
                .addInput(OnnxLoaderTest.value("x", 1, 2, 4))
                .addOutput(OnnxLoaderTest.value("y", 1, 2, 3))
                .addSparseInitializer(w)
                .addNode(Onnx.NodeProto.newBuilder().setName("mm").setOpType("MatMul").addInput("x").addInput("W").addOutput("y"));
        return OnnxLoaderTest.model(g).build().toByteArray();
    }

    static float[] expected() {
        float[] w = new float[12];
        for (int i = 0; i < LINEAR.length; i++) {
            w[(int) LINEAR[i]] = VALUES[i];
        }
        float[] y = new float[6];
        for (int r = 0; r < 2; r++) {
            for (int c = 0; c < 3; c++) {
                for (int k = 0; k < 4; k++) {
                    y[r * 3 + c] += X[r * 4 + k] * w[k * 3 + c];
                }
            }
        }
        return y;
    }

    private float[] ort(byte[] model) throws Exception {
        Path f = Files.write(dir.resolve("m.onnx"), model);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
             OrtSession s = env.createSession(f.toString(), o);
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(X), new long[] {2, 4});
             OrtSession.Result r = s.run(Map.of("x", t))) {
            FloatBuffer fb = ((OnnxTensor) r.get("y").orElseThrow()).getFloatBuffer();
            float[] y = new float[fb.remaining()];
            fb.get(y);
            return y;
        }
    }

    private static float[] gatun(byte[] model) {
        try (Model m = Model.load(model, "sparse.onnx"); Session s = m.newSession(); Arena a = Arena.ofConfined();
             Result r = s.run(Map.of("x", Tensor.ofFloats(a, X, 2, 4)))) {
            return r.get("y").toFloatArray();
        }
    }

    @Test
    void everyIndexWidthAndBothLayoutsLoadAndRunInGatunAndOrt() throws Exception {
        float[] want = expected();
        int[][] cases = {{7, 0}, {7, 1}, {6, 0}, {6, 1}, {5, 1}, {3, 1}}; // {type, raw}: typed fields exist for int64 and int32
        for (int[] c : cases) {
            for (boolean linear : new boolean[] {true, false}) {
                Onnx.TensorProto.Builder ix = linear ? indices(c[0], c[1] == 1, LINEAR, 4) : indices(c[0], c[1] == 1, COORDS, 4, 2);
                byte[] m = model(sparseW(ix));
                String what = "indices type " + c[0] + (c[1] == 1 ? " raw" : " typed") + (linear ? " [NNZ]" : " [NNZ, rank]");
                assertArrayEquals(want, gatun(m), what + ": Gatun");
                assertArrayEquals(want, ort(m), what + ": ONNX Runtime");
            }
        }
    }

    @Test
    void noNonzerosIsAnAllZeroWeight() {
        Onnx.SparseTensorProto.Builder w = Onnx.SparseTensorProto.newBuilder()
                .setValues(Onnx.TensorProto.newBuilder().setName("W").setDataType(1).addDims(0))
                .setIndices(indices(7, true, new long[0], 0)).addDims(4).addDims(3);
        assertArrayEquals(new float[6], gatun(model(w)));
    }

    private static void assertRefused(Consumer<Onnx.SparseTensorProto.Builder> edit, String message) {
        Onnx.SparseTensorProto.Builder w = sparseW(indices(7, true, LINEAR, 4));
        edit.accept(w);
        EngineException e = assertThrows(EngineException.class, () -> gatun(model(w)));
        assertEquals(EngineException.Kind.MODEL_LOAD, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("sparse initializer '") && e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void badIndicesAreRefusedNamingTheProblem() {
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {1, 3, 8, 12}, 4)), "index 12 (value 3) is out of range [0, 12)");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {0, 1, 1, 0, 4, 2, 3, 1}, 4, 2)), "index 4 on axis 0 (value 2) is out of range [0, 4)");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {1, 8, 3, 10}, 4)), "ascending order without duplicates");
        assertRefused(w -> w.setIndices(indices(6, true, new long[] {1, 3, 3, 10}, 4)), "a duplicate");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {0, 1, 2, 2, 1, 0, 3, 1}, 4, 2)), "ascending order");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {1, 3, 8}, 3)), "indices shape [3] does not match 4 values");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {0, 1, 0, 1, 0, 0, 2, 2, 0, 3, 1, 0}, 4, 3)),
                "does not match 4 values of a rank-2 tensor");
        assertRefused(w -> w.setIndices(Onnx.TensorProto.newBuilder().setDataType(1).addDims(4).addAllFloatData(java.util.List.of(1f, 3f, 8f, 10f))),
                "indices must be int64 (or int32, int16, int8), got float");
        assertRefused(w -> w.setIndices(indices(7, true, new long[] {1, 3, 8, 10}, 4).setRawData(ByteString.copyFrom(new byte[24]))),
                "raw_data holds 24 bytes");
        assertRefused(w -> w.clearIndices(), "has 4 values but no indices tensor");
        assertRefused(w -> w.clearDims().addDims(2).addDims(1), "has 4 values, more than the 2 elements");
        assertRefused(w -> w.getValuesBuilder().setName(""), "has no name");
    }

    @Test
    void aSparseInitializerMayNotRedefineAnInitializer() {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("twice")
                .addInput(OnnxLoaderTest.value("x", 1, 2, 4))
                .addOutput(OnnxLoaderTest.value("y", 1, 2, 3))
                .addInitializer(OnnxLoaderTest.rawFloats("W", new float[12], 4, 3))
                .addSparseInitializer(sparseW(indices(7, true, LINEAR, 4)))
                .addNode(Onnx.NodeProto.newBuilder().setName("mm").setOpType("MatMul").addInput("x").addInput("W").addOutput("y"));
        EngineException e = assertThrows(EngineException.class, () -> gatun(OnnxLoaderTest.model(g).build().toByteArray()));
        assertTrue(e.getMessage().contains("sparse initializer 'W' is defined twice"), e.getMessage());
    }
}
