package dev.gatun.engine.quant;

import com.google.protobuf.ByteString;
import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.GraphProto;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.onnx.proto.Onnx.OperatorSetIdProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorShapeProto;
import dev.gatun.engine.onnx.proto.Onnx.TypeProto;
import dev.gatun.engine.onnx.proto.Onnx.ValueInfoProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;

/** Small float models written with the protobuf builders, seeded random weights, for the quantizer tests. */
final class TestModels {
    private TestModels() {}

    /**
     * A two-layer perceptron, x [batch, 24] -> MatMul [24, 40] -> Add -> Relu -> MatMul [40, 10] -> Add -> Gemm(transB)
     * [6, 10] with C -> y [batch, 6]; node names "fc1", "fc2", "head".
     */
    static byte[] mlp(int opset, long seed) {
        return mlp(opset, seed, true);
    }

    /** {@link #mlp(int, long)}; without {@code bias1}, fc1 has no bias Add (Relu reads it directly). */
    static byte[] mlp(int opset, long seed, boolean bias1) {
        Random r = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("mlp");
        g.addInitializer(floats("W1", r, 0.3f, 24, 40)).addInitializer(floats("b1", r, 0.1f, 40));
        g.addInitializer(floats("W2", r, 0.3f, 40, 10)).addInitializer(floats("b2", r, 0.1f, 10));
        g.addInitializer(floats("W3", r, 0.3f, 6, 10)).addInitializer(floats("b3", r, 0.1f, 6));
        g.addNode(node("fc1", "MatMul", List.of("x", "W1"), bias1 ? "h1" : "a1"));
        if (bias1) {
            g.addNode(node("add1", "Add", List.of("h1", "b1"), "a1"));
        }
        g.addNode(node("relu1", "Relu", List.of("a1"), "r1"));
        g.addNode(node("fc2", "MatMul", List.of("r1", "W2"), "h2")).addNode(node("add2", "Add", List.of("h2", "b2"), "a2"));
        g.addNode(node("head", "Gemm", List.of("a2", "W3", "b3"), "y", intAttr("transB", 1)));
        g.addInput(value("x", "batch", 24)).addOutput(value("y", "batch", 6));
        return model(g, opset);
    }

    /**
     * A small CNN, x [batch, 3, 12, 12] -> Conv 3x3 pad 1 (8) -> Relu -> Conv 3x3 stride 2 (16) -> Relu ->
     * Conv 1x1 (16) + residual Add -> Relu -> GlobalAveragePool -> Flatten -> Gemm(transB) [5, 16] -> y [batch, 5];
     * conv names "conv1", "conv2", "conv3", "head".
     */
    static byte[] cnn(long seed) {
        Random r = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("cnn");
        g.addInitializer(floats("C1", r, 0.4f, 8, 3, 3, 3)).addInitializer(floats("B1", r, 0.1f, 8));
        g.addInitializer(floats("C2", r, 0.2f, 16, 8, 3, 3)).addInitializer(floats("B2", r, 0.1f, 16));
        g.addInitializer(floats("C3", r, 0.3f, 16, 16, 1, 1)).addInitializer(floats("B3", r, 0.1f, 16));
        g.addInitializer(floats("W", r, 0.4f, 5, 16)).addInitializer(floats("b", r, 0.1f, 5));
        g.addNode(node("conv1", "Conv", List.of("x", "C1", "B1"), "c1", ints("pads", 1, 1, 1, 1), ints("kernel_shape", 3, 3)));
        g.addNode(node("relu1", "Relu", List.of("c1"), "r1"));
        g.addNode(node("conv2", "Conv", List.of("r1", "C2", "B2"), "c2", ints("pads", 1, 1, 1, 1), ints("strides", 2, 2)));
        g.addNode(node("relu2", "Relu", List.of("c2"), "r2"));
        g.addNode(node("conv3", "Conv", List.of("r2", "C3", "B3"), "c3"));
        g.addNode(node("res", "Add", List.of("c3", "r2"), "s"));
        g.addNode(node("relu3", "Relu", List.of("s"), "r3"));
        g.addNode(node("gap", "GlobalAveragePool", List.of("r3"), "p"));
        g.addNode(node("flat", "Flatten", List.of("p"), "f"));
        g.addNode(node("head", "Gemm", List.of("f", "W", "b"), "y", intAttr("transB", 1)));
        g.addInput(value("x", "batch", 3, 12, 12)).addOutput(value("y", "batch", 5));
        return model(g, 17);
    }

    static byte[] model(GraphProto.Builder g, int opset) {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("gatun-test").setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build().toByteArray();
    }

    static TensorProto floats(String name, Random r, float scale, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        ByteBuffer b = ByteBuffer.allocate((int) (4 * n)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) {
            b.putFloat((float) (r.nextGaussian() * scale));
        }
        b.flip();
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    static NodeProto node(String name, String op, List<String> in, String out, AttributeProto... attrs) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(name).setOpType(op).addAllInput(in).addOutput(out);
        for (AttributeProto a : attrs) {
            b.addAttribute(a);
        }
        return b.build();
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static AttributeProto ints(String name, long... v) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) {
            b.addInts(x);
        }
        return b.build();
    }

    /** A float32 value with a symbolic first dim {@code first} and fixed others. */
    static ValueInfoProto value(String name, String first, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder().addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(first));
        for (long d : dims) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }
}
