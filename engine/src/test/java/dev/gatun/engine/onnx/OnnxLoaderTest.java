package dev.gatun.engine.onnx;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxLoaderTest {
    @TempDir
    Path dir;

    static Onnx.ModelProto.Builder model(Onnx.GraphProto.Builder g) {
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(g);
    }

    static Onnx.ValueInfoProto.Builder value(String name, int type, long... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(type).setShape(s)));
    }

    static Onnx.TensorProto.Builder rawFloats(String name, float[] v, long... dims) {
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

    static Onnx.GraphProto.Builder oneNodeGraph(Onnx.TensorProto.Builder init) {
        return Onnx.GraphProto.newBuilder().setName("g")
                .addInitializer(init)
                .addInput(value("x", 1, 2, 2))
                .addOutput(value("y", 1, 2, 2))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput(init.getName()).addOutput("y"));
    }

    @Test
    void rawDataIsMappedNotCopiedAndTypedFieldsDecode() throws IOException {
        Onnx.GraphProto.Builder g = oneNodeGraph(rawFloats("w", new float[] {1, 2, 3, 4}, 2, 2));
        g.addInitializer(Onnx.TensorProto.newBuilder().setName("i8").setDataType(3).addDims(3).addInt32Data(-1).addInt32Data(5).addInt32Data(127));
        g.addInitializer(Onnx.TensorProto.newBuilder().setName("l").setDataType(7).addDims(2).addInt64Data(7).addInt64Data(-9));
        Path f = dir.resolve("m.onnx");
        Files.write(f, model(g).build().toByteArray());
        try (Arena arena = Arena.ofConfined()) {
            Graph graph = OnnxLoader.load(f, arena).graph();
            Tensor w = graph.constants().get("w");
            assertEquals(Shape.of(2, 2), w.shape());
            assertEquals(3f, w.getFloat(2));
            assertTrue(w.data().isMapped(), "raw_data should be a view of the mapped file");
            Tensor i8 = graph.constants().get("i8");
            assertEquals(DType.INT8, i8.dtype());
            assertArrayEquals(new long[] {-1, 5, 127}, i8.toLongArray());
            assertArrayEquals(new long[] {7, -9}, graph.constants().get("l").toLongArray());
            assertEquals(1, graph.inputs().size(), "initializers are not inputs");
        }
    }

    @Test
    void truncatedAndNonModelFilesFailWithOneLine() throws IOException {
        byte[] good = model(oneNodeGraph(rawFloats("w", new float[] {1, 2, 3, 4}, 2, 2))).build().toByteArray();
        Path trunc = dir.resolve("t.onnx");
        Files.write(trunc, java.util.Arrays.copyOf(good, good.length / 2));
        EngineException e = assertThrows(EngineException.class, () -> Model.load(trunc));
        assertEquals(EngineException.Kind.MODEL_LOAD, e.kind());
        assertTrue(e.getMessage().contains("t.onnx"), e.getMessage());
        Path text = dir.resolve("text.onnx");
        Files.writeString(text, "this is not a model, just some text\nline two\n");
        EngineException e2 = assertThrows(EngineException.class, () -> Model.load(text));
        assertEquals(EngineException.Kind.MODEL_LOAD, e2.kind());
        Path empty = dir.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        assertEquals(EngineException.Kind.MODEL_LOAD, assertThrows(EngineException.class, () -> Model.load(empty)).kind());
    }

    @Test
    void externalDataIsMappedAndConfinedToTheModelFolder() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 8; i++) {
            b.putFloat(i);
        }
        Files.write(dir.resolve("w.bin"), b.array());
        Onnx.TensorProto.Builder ext = Onnx.TensorProto.newBuilder().setName("w").setDataType(1).addDims(2).addDims(2)
                .setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("offset").setValue("16"))
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length").setValue("16"));
        Path f = dir.resolve("ext.onnx");
        Files.write(f, model(oneNodeGraph(ext)).build().toByteArray());
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = OnnxLoader.load(f, arena).graph().constants().get("w");
            assertArrayEquals(new float[] {4, 5, 6, 7}, w.toFloatArray());
        }
        for (String loc : new String[] {"../../etc/passwd", "/etc/passwd", "sub/../../w.bin", "link.bin"}) {
            if (loc.equals("link.bin")) {
                Files.createSymbolicLink(dir.resolve("link.bin"), Path.of("/etc/passwd"));
            }
            ext.setExternalData(0, Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue(loc));
            Path bad = dir.resolve("bad.onnx");
            Files.write(bad, model(oneNodeGraph(ext)).build().toByteArray());
            EngineException e = assertThrows(EngineException.class, () -> Model.load(bad), loc);
            assertEquals(EngineException.Kind.MODEL_LOAD, e.kind());
            assertTrue(e.getMessage().contains("initializer 'w'"), e.getMessage());
        }
    }

    @Test
    void refusesCyclesUndefinedInputsUnknownDomainsAndBadSizes() throws IOException {
        Onnx.GraphProto.Builder cyc = Onnx.GraphProto.newBuilder().addInput(value("x", 1, 1)).addOutput(value("b", 1, 1))
                .addNode(Onnx.NodeProto.newBuilder().setName("n1").setOpType("Add").addInput("x").addInput("b").addOutput("a"))
                .addNode(Onnx.NodeProto.newBuilder().setName("n2").setOpType("Add").addInput("x").addInput("a").addOutput("b"));
        assertLoadFails(model(cyc), "cycle");
        Onnx.GraphProto.Builder undef = Onnx.GraphProto.newBuilder().addInput(value("x", 1, 1)).addOutput(value("y", 1, 1))
                .addNode(Onnx.NodeProto.newBuilder().setName("n1").setOpType("Add").addInput("x").addInput("nope").addOutput("y"));
        assertLoadFails(model(undef), "'nope'");
        Onnx.ModelProto.Builder dom = model(oneNodeGraph(rawFloats("w", new float[] {1, 2, 3, 4}, 2, 2)))
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("com.example").setVersion(1));
        assertLoadFails(dom, "com.example");
        assertLoadFails(model(oneNodeGraph(rawFloats("w", new float[] {1, 2, 3}, 2, 2))), "raw_data holds 12 bytes");
        assertLoadFails(model(oneNodeGraph(rawFloats("w", new float[] {1}, 1L << 40, 1L << 40))), "overflow");
    }

    private void assertLoadFails(Onnx.ModelProto.Builder m, String expect) throws IOException {
        Path f = dir.resolve("x.onnx");
        Files.write(f, m.build().toByteArray());
        EngineException e = assertThrows(EngineException.class, () -> Model.load(f));
        assertTrue(e.getMessage().contains(expect), e.getMessage());
    }
}
