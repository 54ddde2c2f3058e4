package dev.gatun.engine.prune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** Small ONNX models built with the protobuf builders, and runs of them in Gatun and ONNX Runtime, for the pruning tests. */
final class PruneTestModels {
    private PruneTestModels() {}

    static Onnx.ModelProto.Builder model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8).setProducerName("hand").setProducerVersion("1")
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addMetadataProps(Onnx.StringStringEntryProto.newBuilder().setKey("author").setValue("test"))
                .setGraph(g);
    }

    static Onnx.ValueInfoProto.Builder value(String name, long... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s)));
    }

    static Onnx.TensorProto floats(String name, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    static float[] random(Random r, int n, float scale) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) r.nextGaussian() * scale;
        }
        return f;
    }

    static Onnx.NodeProto.Builder node(String name, String op, String... io) {
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setName(name).setOpType(op);
        for (String s : io) {
            if (s.startsWith(">")) {
                n.addOutput(s.substring(1));
            } else {
                n.addInput(s);
            }
        }
        return n;
    }

    static Onnx.AttributeProto intAttr(String name, long v) {
        return Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.INT).setI(v).build();
    }

    /**
     * x [2, 8] -> MatMul "mm" (W1 [8, 12], scale 1) -> h [2, 12] -> Gemm "gemm" (W2 [6, 12], transB=1, scale 0.1, bias b)
     * -> y [2, 6]; also MatMul "left" with a constant A (W3 [5, 2]) reading h's rows: z = W3 [5,2] x h [2,12].
     */
    static Onnx.ModelProto mlp(long seed) {
        Random r = new Random(seed);
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("mlp")
                .addInput(value("x", 2, 8))
                .addOutput(value("y", 2, 6))
                .addOutput(value("z", 5, 12))
                .addInitializer(floats("W1", random(r, 96, 1f), 8, 12))
                .addInitializer(floats("W2", random(r, 72, 0.1f), 6, 12))
                .addInitializer(floats("b", random(r, 6, 1f), 6))
                .addInitializer(floats("W3", random(r, 10, 1f), 5, 2))
                .addNode(node("mm", "MatMul", "x", "W1", ">h"))
                .addNode(node("gemm", "Gemm", "h", "W2", "b", ">y").addAttribute(intAttr("transB", 1)))
                .addNode(node("left", "MatMul", "W3", "h", ">z"));
        return model(g).build();
    }

    /** x [1, 3, 6, 6] -> Conv "conv" (W [4, 3, 3, 3], pads 1) -> y [1, 4, 6, 6]. */
    static Onnx.ModelProto conv(long seed) {
        Random r = new Random(seed);
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("conv")
                .addInput(value("x", 1, 3, 6, 6))
                .addOutput(value("y", 1, 4, 6, 6))
                .addInitializer(floats("W", random(r, 108, 1f), 4, 3, 3, 3))
                .addNode(node("conv", "Conv", "x", "W", ">y").addAttribute(Onnx.AttributeProto.newBuilder().setName("pads")
                        .setType(Onnx.AttributeProto.AttributeType.INTS).addAllInts(java.util.List.of(1L, 1L, 1L, 1L))));
        return model(g).build();
    }

    /** Runs a float-in, float-out model in Gatun: output {@code out} for input {@code in} = {@code x}. */
    static float[] gatun(Model m, String in, float[] x, long[] shape, String out) {
        try (Session s = m.newSession(); Arena a = Arena.ofConfined(); Result r = s.run(Map.of(in, Tensor.ofFloats(a, x, shape)))) {
            return r.get(out).toFloatArray();
        }
    }

    /** The same in ONNX Runtime, from a file. */
    static float[] ort(Path file, String in, float[] x, long[] shape, String out) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
             OrtSession s = env.createSession(file.toString(), o);
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
             OrtSession.Result r = s.run(Map.of(in, t))) {
            OnnxTensor y = (OnnxTensor) r.get(out).orElseThrow();
            FloatBuffer fb = y.getFloatBuffer();
            float[] f = new float[fb.remaining()];
            fb.get(f);
            return f;
        }
    }
}
