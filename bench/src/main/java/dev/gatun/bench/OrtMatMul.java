package dev.gatun.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * ONNX Runtime running a one-node model {@code Y = MatMul(A, B)} with B an initializer (a constant weight, so MLAS
 * prepacks it at session creation as Gatun does at plan time), for timing MLAS on the same shapes in the same JVM.
 */
final class OrtMatMul implements AutoCloseable {
    private final OrtSession session;
    private final OnnxTensor input;

    /** A session with {@code threads} intra-op threads for {@code a[m, k] x b[k, n]} (the tensors' current values). */
    OrtMatMul(Tensor a, Tensor b, int threads) throws OrtException {
        long m = a.shape().dim(0);
        long k = a.shape().dim(1);
        long n = b.shape().dim(1);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        so.setIntraOpNumThreads(threads);
        so.setInterOpNumThreads(1);
        session = env.createSession(model(m, k, n, b), so);
        input = OnnxTensor.createTensor(env, FloatBuffer.wrap(a.toFloatArray()), new long[] {m, k});
    }

    /** Runs the model once. */
    void run() throws OrtException {
        try (OrtSession.Result r = session.run(Map.of("A", input))) {
            if (r.size() != 1) {
                throw new IllegalStateException("MatMul returned " + r.size() + " outputs");
            }
        }
    }

    private static byte[] model(long m, long k, long n, Tensor b) {
        ByteBuffer raw = ByteBuffer.allocate(Math.toIntExact(b.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(b.toFloatArray());
        Onnx.TensorProto weight = Onnx.TensorProto.newBuilder().setName("B").setDataType(1).addDims(k).addDims(n)
                .setRawData(ByteString.copyFrom(raw)).build();
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("matmul")
                .addInput(floatValue("A", m, k)).addInitializer(weight).addOutput(floatValue("Y", m, n))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("MatMul").addInput("A").addInput("B").addOutput("Y"));
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(g).build().toByteArray();
    }

    private static Onnx.ValueInfoProto floatValue(String name, long... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    @Override
    public void close() throws OrtException {
        input.close();
        session.close();
    }
}
