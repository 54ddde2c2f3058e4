package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A small ONNX graph built with the protobuf builders, for pass tests: float inputs (negative dims are symbolic),
 * initializers, nodes with generated output names; loads through the real loader and constant folder, runs a graph
 * with and without a pass, and compares.
 */
final class TestGraph {
    private final Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("t");
    private final int opset;
    private int counter;
    private boolean fusedDomain;
    private final Map<String, String> lastOutput = new java.util.HashMap<>();

    TestGraph(int opset) {
        this.opset = opset;
    }

    TestGraph input(String name, long... dims) {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
        for (int i = 0; i < dims.length; i++) {
            s.addDim(dims[i] < 0 ? Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("d" + i)
                    : Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(dims[i]));
        }
        g.addInput(Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))));
        return this;
    }

    TestGraph output(String name) {
        g.addOutput(Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1))));
        return this;
    }

    /** A float initializer; returns its name. */
    String floats(float[] v, long... dims) {
        String name = "c" + counter++;
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        g.addInitializer(t);
        return name;
    }

    /** A float scalar initializer. */
    String scalar(float v) {
        return floats(new float[] {v});
    }

    /** A random float initializer. */
    String random(java.util.Random rnd, long... dims) {
        int n = 1;
        for (long d : dims) {
            n *= (int) d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return floats(v, dims);
    }

    /** A one-byte integer initializer (ONNX data type 2 uint8 or 3 int8) from raw bytes. */
    String bytes(int dataType, byte[] v, long... dims) {
        String name = "c" + counter++;
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(dataType).setRawData(ByteString.copyFrom(v));
        for (long d : dims) {
            t.addDims(d);
        }
        g.addInitializer(t);
        return name;
    }

    /** An int64 initializer. */
    String longs(long[] v, long... dims) {
        String name = "c" + counter++;
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(7);
        for (long x : v) {
            t.addInt64Data(x);
        }
        for (long d : dims) {
            t.addDims(d);
        }
        g.addInitializer(t);
        return name;
    }

    /** Adds a node; attributes as name/value pairs (Long/Integer int, Float, String, long[] ints); returns its output. */
    /** Adds a node of Gatun's dev.gatun domain (the model then imports it); returns its output. */
    String fusedNode(String op, String[] inputs, Object... attrs) {
        String out = node(op, inputs, attrs);
        g.getNodeBuilder(g.getNodeCount() - 1).setDomain(dev.gatun.engine.ops.FusedOps.DOMAIN);
        fusedDomain = true;
        return out;
    }

    String node(String op, String[] inputs, Object... attrs) {
        String out = op.toLowerCase() + "_" + counter++;
        nodeTo(op, out, inputs, attrs);
        lastOutput.put(op, out);
        return out;
    }

    /** The output of the last node of type {@code op} added. */
    String last(String op) {
        return lastOutput.get(op);
    }

    /** Adds a node with several named outputs (no attributes). */
    void nodeOutputs(String op, String[] inputs, String... outputs) {
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setOpType(op).setName(op + "_" + counter++);
        for (String in : inputs) {
            n.addInput(in);
        }
        for (String out : outputs) {
            n.addOutput(out);
        }
        g.addNode(n);
    }

    void nodeTo(String op, String out, String[] inputs, Object... attrs) {
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setOpType(op).setName(op + "_" + counter++).addOutput(out);
        for (String in : inputs) {
            n.addInput(in);
        }
        for (int i = 0; i < attrs.length; i += 2) {
            Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName((String) attrs[i]);
            switch (attrs[i + 1]) {
                case Long l -> a.setType(Onnx.AttributeProto.AttributeType.INT).setI(l);
                case Integer l -> a.setType(Onnx.AttributeProto.AttributeType.INT).setI(l);
                case Float f -> a.setType(Onnx.AttributeProto.AttributeType.FLOAT).setF(f);
                case String s -> a.setType(Onnx.AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s));
                case long[] ls -> {
                    a.setType(Onnx.AttributeProto.AttributeType.INTS);
                    for (long l : ls) {
                        a.addInts(l);
                    }
                }
                default -> throw new IllegalArgumentException(String.valueOf(attrs[i + 1]));
            }
            n.addAttribute(a);
        }
        g.addNode(n);
    }

    byte[] bytes() {
        Onnx.ModelProto.Builder m = Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset));
        if (fusedDomain) {
            m.addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain(dev.gatun.engine.ops.FusedOps.DOMAIN).setVersion(1));
        }
        return m.setGraph(g).build().toByteArray();
    }

    /** The graph as a model load makes it before the optimiser: loaded and constant-folded. */
    Graph load(Arena arena) {
        return ConstantFolder.fold(OnnxLoader.load(bytes(), "t.onnx", arena).graph(), arena, Long.MAX_VALUE);
    }

    /** Op type counts ("dev.gatun:Op" for the fused domain). */
    static Map<String, Integer> ops(Graph g) {
        Map<String, Integer> m = new TreeMap<>();
        for (Node n : g.nodes()) {
            m.merge((n.domain().isEmpty() ? "" : n.domain() + ":") + n.opType(), 1, Integer::sum);
        }
        return m;
    }

    /** Runs {@code g} on {@code inputs} (graph-input order) and returns copies of its outputs. */
    static List<float[]> run(Graph g, Tensor[] inputs, int threads) {
        try (Arena arena = Arena.ofShared()) {
            Workspace ws = new Workspace(arena, Long.MAX_VALUE, threads);
            try {
                Tensor[] out = ExecutionPlan.build(g).execute(ws, inputs);
                List<float[]> l = new ArrayList<>();
                for (Tensor t : out) {
                    l.add(t.toFloatArray());
                }
                return l;
            } finally {
                ws.close();
            }
        }
    }

    /** Asserts two graphs give the same outputs within {@code rel} of the largest magnitude (plus a float-rounding floor). */
    static void assertSameOutputs(Graph expected, Graph actual, Tensor[] inputs, double rel) {
        List<float[]> e = run(expected, inputs, 1);
        for (int threads : new int[] {1, 2}) {
            List<float[]> a = run(actual, inputs, threads);
            assertEquals(e.size(), a.size());
            for (int o = 0; o < e.size(); o++) {
                float[] x = e.get(o);
                float[] y = a.get(o);
                assertEquals(x.length, y.length, "output " + o + " size");
                double max = 0;
                for (float v : x) {
                    max = Float.isNaN(v) ? max : Math.max(max, Math.abs(v));
                }
                for (int i = 0; i < x.length; i++) {
                    boolean bothNaN = Float.isNaN(x[i]) && Float.isNaN(y[i]);
                    if (!bothNaN && !(Math.abs(x[i] - y[i]) <= rel * max + 1e-6)) {
                        fail("output " + o + " element " + i + ": " + y[i] + " with the pass, " + x[i] + " without (threads " + threads + ")");
                    }
                }
            }
        }
    }

    /** A random float tensor. */
    static Tensor randomTensor(Arena arena, java.util.Random rnd, long... dims) {
        int n = 1;
        for (long d : dims) {
            n *= (int) d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        return Tensor.ofFloats(arena, v, dims);
    }
}
