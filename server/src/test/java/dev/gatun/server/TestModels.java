package dev.gatun.server;

import dev.gatun.engine.onnx.proto.Onnx;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Tiny ONNX models built with the engine's protobuf classes, and Triton-layout repositories of them. */
final class TestModels {
    static final int FLOAT = 1;
    static final int INT64 = 7;

    private TestModels() {}

    static Onnx.ValueInfoProto value(String name, int type, Object... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            s.addDim(d instanceof String p ? Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam(p)
                    : Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }

    static Onnx.ModelProto model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8).setProducerName("gatun-test").setProducerVersion("1")
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build();
    }

    /** y = Identity(x), x of {@code type} with shape [batch, dims...]. */
    static Onnx.ModelProto identity(int type, Object... dims) {
        Object[] all = new Object[dims.length + 1];
        all[0] = "batch";
        System.arraycopy(dims, 0, all, 1, dims.length);
        return model(Onnx.GraphProto.newBuilder().setName("identity")
                .addInput(value("x", type, all)).addOutput(value("y", type, all))
                .addNode(Onnx.NodeProto.newBuilder().setName("id").setOpType("Identity").addInput("x").addOutput("y")));
    }

    /** y = x + w for float x [batch, n] and the constant w = (add, add, ...). */
    static Onnx.ModelProto add(int n, float add) {
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(add);
        }
        Onnx.TensorProto w = Onnx.TensorProto.newBuilder().setName("w").setDataType(FLOAT).addDims(n)
                .setRawData(com.google.protobuf.ByteString.copyFrom(b.array())).build();
        return model(Onnx.GraphProto.newBuilder().setName("add")
                .addInput(value("x", FLOAT, "batch", n)).addOutput(value("y", FLOAT, "batch", n)).addInitializer(w)
                .addNode(Onnx.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("y")));
    }

    /** One Identity per element type: input {@code in_T} to output {@code out_T}, each [batch, 3]. */
    static Onnx.ModelProto allTypes(int... types) {
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("types");
        for (int t : types) {
            g.addInput(value("in_" + t, t, "batch", 3)).addOutput(value("out_" + t, t, "batch", 3))
                    .addNode(Onnx.NodeProto.newBuilder().setName("id" + t).setOpType("Identity").addInput("in_" + t)
                            .addOutput("out_" + t));
        }
        return model(g);
    }

    /** Writes {@code root/name/version/model.onnx} (atomically, as an operator should). */
    static Path write(Path root, String name, long version, Onnx.ModelProto m) throws IOException {
        Path dir = root.resolve(name).resolve(Long.toString(version));
        Files.createDirectories(dir);
        Path tmp = dir.resolve(".model.onnx.tmp");
        Files.write(tmp, m.toByteArray());
        return Files.move(tmp, dir.resolve("model.onnx"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    static void config(Path root, String name, String json) throws IOException {
        Files.createDirectories(root.resolve(name));
        Files.writeString(root.resolve(name).resolve("config.json"), json);
    }
}
