package dev.gatun.engine.quant;

import com.google.protobuf.ByteString;
import dev.gatun.engine.onnx.TensorDecoder;
import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.GraphProto;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.onnx.proto.Onnx.OperatorSetIdProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.onnx.proto.Onnx.ValueInfoProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An editable view of an ONNX {@link ModelProto}'s main graph for the quantizer: the nodes in order, the initializers
 * by name, who produces and who reads each value, constant values (initializers, {@code Constant} nodes and
 * {@code Identity} chains over them, decoded as float), fresh names, and the edited model written back with its
 * nodes in topological order. Nodes are immutable protos: an edit replaces the node at its index.
 */
final class ProtoGraph {
    private final ModelProto original;
    private final String file;
    private final TensorDecoder decoder;
    final List<NodeProto> nodes;
    final Map<String, TensorProto> initializers = new LinkedHashMap<>();
    final Set<String> graphInputs = new HashSet<>();
    final Set<String> graphOutputs = new HashSet<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, Integer> opsets = new LinkedHashMap<>();

    ProtoGraph(ModelProto model, String file, Arena arena, java.nio.file.Path baseDir) {
        this.original = model;
        this.file = file;
        this.decoder = new TensorDecoder(arena, baseDir);
        GraphProto g = model.getGraph();
        for (TensorProto t : g.getInitializerList()) {
            initializers.put(t.getName(), t);
            names.add(t.getName());
        }
        // a pruned model's sparse initializers are densified: the quantizer reads and writes dense weights (a
        // pruned-then-quantized weight keeps its zeros as quantized zeros)
        for (var sp : g.getSparseInitializerList()) {
            String name = sp.getValues().getName();
            Tensor t = decoder.decodeSparse(sp, "sparse initializer '" + name + "'");
            TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(t.dtype().onnxId());
            for (long d : t.shape().dims()) {
                b.addDims(d);
            }
            b.setRawData(ByteString.copyFrom(t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
            initializers.put(name, b.build());
            names.add(name);
        }
        for (ValueInfoProto v : g.getInputList()) {
            if (!initializers.containsKey(v.getName())) {
                graphInputs.add(v.getName());
            }
            names.add(v.getName());
        }
        for (ValueInfoProto v : g.getOutputList()) {
            graphOutputs.add(v.getName());
        }
        nodes = new ArrayList<>();
        int i = 0;
        for (NodeProto n : g.getNodeList()) {
            NodeProto named = n.getName().isEmpty() ? n.toBuilder().setName(n.getOpType() + "_" + i).build() : n;
            nodes.add(named);
            names.add(named.getName());
            names.addAll(named.getOutputList());
            i++;
        }
        for (OperatorSetIdProto o : model.getOpsetImportList()) {
            opsets.put(o.getDomain().equals("ai.onnx") ? "" : o.getDomain(), (int) o.getVersion());
        }
    }

    String file() {
        return file;
    }

    /** The ai.onnx opset the model imports. */
    int opset() {
        return opsets.getOrDefault("", 1);
    }

    void requireOpset(int version) {
        if (opset() < version) {
            opsets.put("", version);
        }
    }

    /** The node producing {@code value}, or null (graph input, initializer, unknown). */
    NodeProto producer(String value) {
        for (NodeProto n : nodes) {
            if (n.getOutputList().contains(value)) {
                return n;
            }
        }
        return null;
    }

    /** Producer index of every value, computed once per editing phase. */
    Map<String, NodeProto> producers() {
        Map<String, NodeProto> m = new HashMap<>();
        for (NodeProto n : nodes) {
            for (String o : n.getOutputList()) {
                m.put(o, n);
            }
        }
        return m;
    }

    /** Readers of every value (each node once per value it reads). */
    Map<String, List<NodeProto>> consumers() {
        Map<String, List<NodeProto>> m = new HashMap<>();
        for (NodeProto n : nodes) {
            for (String in : new LinkedHashSet<>(n.getInputList())) {
                if (!in.isEmpty()) {
                    m.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
                }
            }
        }
        return m;
    }

    /** Whether {@code value} is constant: an initializer, a Constant node's output, or an Identity of one. */
    boolean isConstant(String value) {
        return constantProto(value) != null;
    }

    /** The TensorProto holding constant {@code value} (through Identity chains), or null. */
    TensorProto constantProto(String value) {
        for (int depth = 0; depth < 16; depth++) {
            TensorProto t = initializers.get(value);
            if (t != null) {
                return t;
            }
            if (graphInputs.contains(value)) {
                return null;
            }
            NodeProto p = producer(value);
            if (p == null) {
                return null;
            }
            if (p.getOpType().equals("Constant")) {
                for (AttributeProto a : p.getAttributeList()) {
                    if (a.getName().equals("value") && a.hasT()) {
                        return a.getT();
                    }
                }
                return null;
            }
            if (!p.getOpType().equals("Identity") || p.getInputCount() != 1) {
                return null;
            }
            value = p.getInput(0);
        }
        return null;
    }

    /** Constant {@code value} decoded, or null when it is not constant. */
    Tensor constant(String value) {
        TensorProto t = constantProto(value);
        return t == null ? null : decoder.decode(t, file + ": constant '" + value + "'");
    }

    /** A name not used in the graph yet, derived from {@code base}. */
    String fresh(String base) {
        String name = base;
        for (int i = 1; names.contains(name); i++) {
            name = base + "_" + i;
        }
        names.add(name);
        return name;
    }

    /** Adds an initializer under a fresh name derived from {@code base}; returns the name. */
    String addInitializer(String base, DType dtype, long[] dims, ByteBuffer littleEndian) {
        String name = fresh(base);
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(dtype.onnxId());
        for (long d : dims) {
            b.addDims(d);
        }
        littleEndian.rewind();
        b.setRawData(ByteString.copyFrom(littleEndian));
        initializers.put(name, b.build());
        return name;
    }

    String addFloats(String base, float[] v, long... dims) {
        ByteBuffer bb = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(v);
        return addInitializer(base, DType.FLOAT, dims, bb);
    }

    String addBytes(String base, DType dtype, byte[] v, long... dims) {
        return addInitializer(base, dtype, dims, ByteBuffer.wrap(v));
    }

    String addInts(String base, int[] v, long... dims) {
        ByteBuffer bb = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.asIntBuffer().put(v);
        return addInitializer(base, DType.INT32, dims, bb);
    }

    String addLongs(String base, long[] v, long... dims) {
        ByteBuffer bb = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.asLongBuffer().put(v);
        return addInitializer(base, DType.INT64, dims, bb);
    }

    /** A node of the ai.onnx domain. */
    static NodeProto node(String name, String op, List<String> inputs, List<String> outputs, AttributeProto... attrs) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(name).setOpType(op).addAllInput(inputs).addAllOutput(outputs);
        for (AttributeProto a : attrs) {
            b.addAttribute(a);
        }
        return b.build();
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static long intAttr(NodeProto n, String name, long def) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getI();
            }
        }
        return def;
    }

    static float floatAttr(NodeProto n, String name, float def) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getF();
            }
        }
        return def;
    }

    /** Bytes of all initializers (what the weights weigh). */
    long initializerBytes() {
        long b = 0;
        for (TensorProto t : initializers.values()) {
            b += t.getSerializedSize();
        }
        return b;
    }

    /** Drops nodes whose outputs nobody reads and initializers nobody reads (graph outputs are read). */
    void removeDead() {
        boolean changed = true;
        while (changed) {
            changed = false;
            Set<String> read = new HashSet<>(graphOutputs);
            for (NodeProto n : nodes) {
                read.addAll(n.getInputList());
                for (AttributeProto a : n.getAttributeList()) {
                    if (a.hasG() || a.getGraphsCount() > 0) {
                        return; // sub-graphs may read outer values by name: leave the graph as it is
                    }
                }
            }
            for (int i = nodes.size() - 1; i >= 0; i--) {
                NodeProto n = nodes.get(i);
                if (n.getOutputList().stream().noneMatch(read::contains)) {
                    nodes.remove(i);
                    changed = true;
                }
            }
            if (!changed) {
                initializers.keySet().removeIf(k -> !read.contains(k));
            }
        }
    }

    /** The edited model: nodes in topological order, the opsets as edited, everything else as it was. */
    ModelProto build() {
        GraphProto.Builder g = original.getGraph().toBuilder().clearNode().clearInitializer().clearSparseInitializer();
        g.addAllNode(topological());
        g.addAllInitializer(initializers.values());
        List<ValueInfoProto> inputs = new ArrayList<>();
        for (ValueInfoProto v : original.getGraph().getInputList()) {
            if (graphInputs.contains(v.getName()) || initializers.containsKey(v.getName())) {
                inputs.add(v);
            }
        }
        g.clearInput().addAllInput(inputs);
        ModelProto.Builder m = original.toBuilder().setGraph(g).clearOpsetImport();
        for (Map.Entry<String, Integer> e : opsets.entrySet()) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(e.getKey()).setVersion(e.getValue()));
        }
        return m.build();
    }

    /** Kahn's algorithm, stable with respect to list order. */
    private List<NodeProto> topological() {
        Set<String> available = new HashSet<>(initializers.keySet());
        available.addAll(graphInputs);
        available.add("");
        List<NodeProto> pending = new ArrayList<>(nodes);
        List<NodeProto> out = new ArrayList<>(nodes.size());
        while (!pending.isEmpty()) {
            boolean progress = false;
            for (int i = 0; i < pending.size(); i++) {
                NodeProto n = pending.get(i);
                if (available.containsAll(n.getInputList())) {
                    out.add(n);
                    available.addAll(n.getOutputList());
                    pending.remove(i--);
                    progress = true;
                }
            }
            if (!progress) {
                // Inputs from outer scopes or undefined values: keep the rest in their order (the loader will say).
                out.addAll(pending);
                break;
            }
        }
        return out;
    }
}
