package dev.gatun.engine.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.LoadOptions;
import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.GraphProto;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.onnx.proto.Onnx.OperatorSetIdProto;
import dev.gatun.engine.onnx.proto.Onnx.SparseTensorProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorShapeProto;
import dev.gatun.engine.onnx.proto.Onnx.TypeProto;
import dev.gatun.engine.onnx.proto.Onnx.ValueInfoProto;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads an ONNX {@code ModelProto} into a {@link Graph}. The file is mapped read-only into the caller's arena and
 * parsed with protobuf aliasing on, so initializers' {@code raw_data} stay views of the mapping (zero copy).
 * Validates what later stages rely on: opset imports, that every node input is defined, unique value names, and
 * topological order (sorting when needed, refusing cycles). {@code Constant} nodes become constants.
 */
public final class OnnxLoader {
    /** Domains whose opsets Gatun accepts in a model ("" is ai.onnx). */
    public static final Set<String> KNOWN_DOMAINS = Set.of("", "ai.onnx", "ai.onnx.ml", "dev.gatun");

    /**
     * What a load yields: the graph and the model's metadata.
     *
     * @param constantBytesLeft what is left of {@link LoadOptions#maxInitializerBytes()} after decoding (for folding)
     */
    public record Loaded(Graph graph, long irVersion, String producer, Map<String, String> metadata, long constantBytesLeft) {}

    private OnnxLoader() {}

    /** Maps and parses a model file with the default {@link LoadOptions}. */
    public static Loaded load(Path path, Arena arena) {
        return load(path, arena, LoadOptions.defaults());
    }

    /**
     * Maps and parses a model file; {@code arena} owns the mapping and everything decoded. The node count and
     * sub-graph depth are checked on the raw bytes before parsing, constants' sizes before they are allocated.
     */
    public static Loaded load(Path path, Arena arena, LoadOptions limits) {
        MemorySegment mapped;
        long size;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            size = ch.size();
            if (size == 0) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, path + ": the file is empty, not an ONNX model");
            }
            if (size > Integer.MAX_VALUE) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, path + ": " + size
                        + " bytes is over protobuf's 2 GiB limit; store the weights as external data");
            }
            mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            NativeMemory.mapped(arena, size);
        } catch (NoSuchFileException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, path + ": no such file");
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, path + ": cannot read: " + e.getMessage(), e);
        }
        Path dir = path.toAbsolutePath().getParent();
        return parse(mapped.asByteBuffer(), path.getFileName().toString(), dir, arena, limits);
    }

    /** Parses a model held in memory (copied into {@code arena} first) with the default {@link LoadOptions}. */
    public static Loaded load(byte[] bytes, String name, Arena arena) {
        return load(bytes, name, arena, LoadOptions.defaults());
    }

    /** Parses a model held in memory (copied into {@code arena} first); external data is refused. */
    public static Loaded load(byte[] bytes, String name, Arena arena, LoadOptions limits) {
        MemorySegment seg = arena.allocate(Math.max(1, bytes.length), Tensor.ALIGNMENT).asSlice(0, bytes.length);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, seg, 0, bytes.length);
        return parse(seg.asByteBuffer(), name, null, arena, limits);
    }

    private static Loaded parse(ByteBuffer buf, String name, Path dir, Arena arena, LoadOptions limits) {
        ModelScan.check(buf, limits, name);
        ModelProto model;
        try {
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(buf).newCodedInput();
            in.enableAliasing(true);
            in.setRecursionLimit(limits.protobufRecursionLimit());
            in.setSizeLimit(Integer.MAX_VALUE);
            model = ModelProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            if (String.valueOf(e.getMessage()).contains("too many levels of nesting")) {
                throw new EngineException(EngineException.Kind.LIMIT, name + ": protobuf messages are nested more than "
                        + limits.protobufRecursionLimit() + " levels deep (from LoadOptions.maxNestingDepth "
                        + limits.maxNestingDepth() + ")", e);
            }
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not a valid ONNX model (protobuf: "
                    + e.getMessage() + ")" + truncationHint(e), e);
        } catch (IOException | RuntimeException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not a valid ONNX model (" + e + ")", e);
        }
        if (!model.hasGraph() || (model.getOpsetImportCount() == 0 && model.getIrVersion() == 0)) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not an ONNX model (no graph or opset import)");
        }
        Map<String, Integer> opsets = opsets(model, name);
        TensorDecoder decoder = new TensorDecoder(arena, dir, limits.maxTensorBytes(), limits.maxInitializerBytes());
        Graph graph = convert(model.getGraph(), opsets, decoder, name);
        Map<String, String> meta = new LinkedHashMap<>();
        model.getMetadataPropsList().forEach(e -> meta.put(e.getKey(), e.getValue()));
        String producer = (model.getProducerName() + " " + model.getProducerVersion()).trim();
        return new Loaded(graph, model.getIrVersion(), producer, meta, decoder.remainingBytes());
    }

    private static String truncationHint(InvalidProtocolBufferException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("truncated") || m.contains("ended unexpectedly") ? "; the file looks truncated" : "";
    }

    private static Map<String, Integer> opsets(ModelProto model, String name) {
        Map<String, Integer> opsets = new HashMap<>();
        for (OperatorSetIdProto o : model.getOpsetImportList()) {
            String domain = o.getDomain().equals("ai.onnx") ? "" : o.getDomain();
            if (!KNOWN_DOMAINS.contains(domain)) {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, name + ": operator set domain '" + domain
                        + "' (version " + o.getVersion() + ") is not supported; Gatun runs ai.onnx and its own dev.gatun (and notes ai.onnx.ml)");
            }
            if (o.getVersion() < 1 || o.getVersion() > Integer.MAX_VALUE) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": invalid opset version " + o.getVersion()
                        + " for domain '" + domain + "'");
            }
            if (domain.isEmpty() && o.getVersion() > OpRegistry.MAX_OPSET) {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, name + ": ai.onnx opset " + o.getVersion()
                        + " is newer than Gatun supports (up to " + OpRegistry.MAX_OPSET + ")");
            }
            opsets.put(domain, (int) o.getVersion());
        }
        if (opsets.isEmpty()) {
            opsets.put("", 1);
        }
        return opsets;
    }

    private static Graph convert(GraphProto g, Map<String, Integer> opsets, TensorDecoder decoder, String file) {
        Map<String, Tensor> constants = new LinkedHashMap<>();
        for (TensorProto t : g.getInitializerList()) {
            String what = file + ": initializer '" + t.getName() + "'";
            if (t.getName().isEmpty()) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, what + " has no name");
            }
            constants.put(t.getName(), decoder.decode(t, what));
        }
        for (SparseTensorProto s : g.getSparseInitializerList()) {
            String n = s.getValues().getName();
            String what = file + ": sparse initializer '" + n + "'";
            if (n.isEmpty()) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, what + " has no name (its values tensor names it)");
            }
            if (constants.containsKey(n)) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, what + " is defined twice (also as an initializer)");
            }
            constants.put(n, decoder.decodeSparse(s, what));
        }
        Map<String, ValueInfo> valueInfo = new HashMap<>();
        List<ValueInfo> inputs = new ArrayList<>();
        for (ValueInfoProto v : g.getInputList()) {
            if (v.getName().isEmpty()) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": a graph input has no name");
            }
            if (valueInfo.containsKey(v.getName())) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": graph input '" + v.getName() + "' is declared twice");
            }
            ValueInfo vi = valueInfo(v);
            valueInfo.put(vi.name(), vi);
            if (!constants.containsKey(vi.name())) {
                inputs.add(vi);
            }
        }
        List<ValueInfo> outputs = new ArrayList<>();
        for (ValueInfoProto v : g.getOutputList()) {
            if (v.getName().isEmpty()) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": graph output " + outputs.size() + " has no name");
            }
            ValueInfo vi = valueInfo(v);
            valueInfo.put(vi.name(), vi);
            outputs.add(vi);
        }
        for (ValueInfoProto v : g.getValueInfoList()) {
            valueInfo.putIfAbsent(v.getName(), valueInfo(v));
        }
        List<Node> nodes = new ArrayList<>();
        int index = 0;
        for (NodeProto n : g.getNodeList()) {
            String nodeName = n.getName().isEmpty() ? n.getOpType() + "_" + index : n.getName();
            index++;
            Attributes attrs = attributes(n, nodeName, decoder, file);
            if (n.getOpType().equals("Constant") && (n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx"))) {
                if (n.getOutputCount() != 1) {
                    throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": node '" + nodeName + "' (Constant) must have one output");
                }
                constants.put(n.getOutput(0), constantValue(attrs, decoder, nodeName, file));
                continue;
            }
            String domain = n.getDomain().equals("ai.onnx") ? "" : n.getDomain();
            if (!opsets.containsKey(domain)) {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, file + ": node '" + nodeName + "' (" + n.getOpType()
                        + ") is in domain '" + domain + "', which the model does not import");
            }
            nodes.add(new Node(nodeName, n.getOpType(), domain, n.getInputList(), n.getOutputList(), attrs));
        }
        List<Node> sorted = topologicalOrder(nodes, inputs, constants, file);
        for (ValueInfo o : outputs) {
            if (!constants.containsKey(o.name()) && inputs.stream().noneMatch(i -> i.name().equals(o.name()))
                    && sorted.stream().noneMatch(n -> n.outputs().contains(o.name()))) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": graph output '" + o.name() + "' is produced by no node");
            }
        }
        return new Graph(g.getName(), sorted, inputs, outputs, constants, valueInfo, opsets);
    }

    /** Kahn's algorithm, stable with respect to file order; refuses undefined inputs, duplicate outputs and cycles. */
    private static List<Node> topologicalOrder(List<Node> nodes, List<ValueInfo> inputs, Map<String, Tensor> constants, String file) {
        Map<String, Integer> producer = new HashMap<>();
        Set<String> available = new HashSet<>(constants.keySet());
        inputs.forEach(i -> available.add(i.name()));
        for (int i = 0; i < nodes.size(); i++) {
            for (String o : nodes.get(i).outputs()) {
                if (o.isEmpty()) {
                    continue;
                }
                if (available.contains(o) || producer.putIfAbsent(o, i) != null) {
                    throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": value '" + o + "' is defined more than once (again by "
                            + nodes.get(i).where() + ")");
                }
            }
        }
        int[] pending = new int[nodes.size()];
        Map<String, List<Integer>> consumers = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            Set<String> seen = new HashSet<>();
            for (String in : nodes.get(i).inputs()) {
                if (in.isEmpty() || available.contains(in) || !seen.add(in)) {
                    continue;
                }
                if (!producer.containsKey(in)) {
                    throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": " + nodes.get(i).where() + " reads '" + in
                            + "', which is not a graph input, an initializer or any node's output");
                }
                pending[i]++;
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
            }
        }
        java.util.PriorityQueue<Integer> ready = new java.util.PriorityQueue<>();
        for (int i = 0; i < nodes.size(); i++) {
            if (pending[i] == 0) {
                ready.add(i);
            }
        }
        List<Node> out = new ArrayList<>(nodes.size());
        while (!ready.isEmpty()) {
            int i = ready.poll();
            out.add(nodes.get(i));
            for (String o : nodes.get(i).outputs()) {
                for (int c : consumers.getOrDefault(o, List.of())) {
                    if (--pending[c] == 0) {
                        ready.add(c);
                    }
                }
            }
        }
        if (out.size() != nodes.size()) {
            List<String> stuck = new ArrayList<>();
            for (int i = 0; i < nodes.size() && stuck.size() < 5; i++) {
                if (pending[i] > 0) {
                    stuck.add(nodes.get(i).name());
                }
            }
            throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": the graph has a cycle through nodes " + stuck);
        }
        return out;
    }

    private static Attributes attributes(NodeProto n, String nodeName, TensorDecoder decoder, String file) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (AttributeProto a : n.getAttributeList()) {
            String what = file + ": attribute '" + a.getName() + "' of node '" + nodeName + "'";
            m.put(a.getName(), attribute(a, decoder, what));
        }
        return new Attributes(m);
    }

    private static Attribute attribute(AttributeProto a, TensorDecoder decoder, String what) {
        AttributeProto.AttributeType type = a.hasType() ? a.getType() : inferType(a);
        return switch (type) {
            case FLOAT -> new Attribute.Float(a.getF());
            case INT -> new Attribute.Int(a.getI());
            case STRING -> new Attribute.Str(a.getS().toString(StandardCharsets.UTF_8));
            case TENSOR -> new Attribute.TensorValue(decoder.decode(a.getT(), what));
            case SPARSE_TENSOR -> new Attribute.TensorValue(decoder.decodeSparse(a.getSparseTensor(), what));
            case FLOATS -> {
                float[] f = new float[a.getFloatsCount()];
                for (int i = 0; i < f.length; i++) {
                    f[i] = a.getFloats(i);
                }
                yield new Attribute.Floats(f);
            }
            case INTS -> {
                long[] l = new long[a.getIntsCount()];
                for (int i = 0; i < l.length; i++) {
                    l[i] = a.getInts(i);
                }
                yield new Attribute.Ints(l);
            }
            case STRINGS -> new Attribute.Strs(a.getStringsList().stream().map(s -> s.toString(StandardCharsets.UTF_8)).toArray(String[]::new));
            default -> new Attribute.Other(type.name());
        };
    }

    /** IR version 1 models may omit the attribute type; infer it from the field that is set. */
    private static AttributeProto.AttributeType inferType(AttributeProto a) {
        if (a.hasF()) {
            return AttributeProto.AttributeType.FLOAT;
        } else if (a.hasI()) {
            return AttributeProto.AttributeType.INT;
        } else if (a.hasS()) {
            return AttributeProto.AttributeType.STRING;
        } else if (a.hasT()) {
            return AttributeProto.AttributeType.TENSOR;
        } else if (a.hasG()) {
            return AttributeProto.AttributeType.GRAPH;
        } else if (a.getFloatsCount() > 0) {
            return AttributeProto.AttributeType.FLOATS;
        } else if (a.getIntsCount() > 0) {
            return AttributeProto.AttributeType.INTS;
        } else if (a.getStringsCount() > 0) {
            return AttributeProto.AttributeType.STRINGS;
        }
        return AttributeProto.AttributeType.UNDEFINED;
    }

    /** The value of a Constant node: value, value_float(s), value_int(s), value_string(s) or sparse_value. */
    private static Tensor constantValue(Attributes attrs, TensorDecoder decoder, String nodeName, String file) {
        if (attrs.asMap().size() != 1) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": node '" + nodeName
                    + "' (Constant) must have exactly one value attribute, has " + attrs.asMap().keySet());
        }
        Arena a = Arena.ofAuto();
        Map.Entry<String, Attribute> e = attrs.asMap().entrySet().iterator().next();
        return switch (e.getValue()) {
            case Attribute.TensorValue t -> t.value();
            case Attribute.Float f when e.getKey().equals("value_float") -> Tensor.ofFloats(a, new float[] {f.value()});
            case Attribute.Floats f when e.getKey().equals("value_floats") -> Tensor.ofFloats(a, f.values(), f.values().length);
            case Attribute.Int i when e.getKey().equals("value_int") -> Tensor.ofLongs(a, new long[] {i.value()});
            case Attribute.Ints i when e.getKey().equals("value_ints") -> Tensor.ofLongs(a, i.values(), i.values().length);
            case Attribute.Str s when e.getKey().equals("value_string") -> Tensor.ofStrings(Shape.scalar(), new String[] {s.value()});
            case Attribute.Strs s when e.getKey().equals("value_strings") -> Tensor.ofStrings(Shape.of(s.values().length), s.values());
            default -> throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": node '" + nodeName
                    + "' (Constant): unsupported value attribute '" + e.getKey() + "'");
        };
    }

    /** The declared element type and shape of a value (null parts when not a tensor or undeclared). */
    static ValueInfo valueInfo(ValueInfoProto v) {
        if (!v.hasType() || !v.getType().hasTensorType()) {
            return new ValueInfo(v.getName(), null, null);
        }
        TypeProto.Tensor t = v.getType().getTensorType();
        DType dtype = DType.fromOnnxOrNull(t.getElemType());
        Shape shape = null;
        if (t.hasShape()) {
            TensorShapeProto sp = t.getShape();
            long[] dims = new long[sp.getDimCount()];
            String[] names = new String[dims.length];
            for (int i = 0; i < dims.length; i++) {
                TensorShapeProto.Dimension d = sp.getDim(i);
                if (d.hasDimValue() && d.getDimValue() >= 0) {
                    dims[i] = d.getDimValue();
                } else {
                    dims[i] = Shape.UNKNOWN;
                    names[i] = d.hasDimParam() && !d.getDimParam().isEmpty() ? d.getDimParam() : null;
                }
            }
            shape = Shape.symbolic(dims, names);
        }
        return new ValueInfo(v.getName(), dtype, shape);
    }

    /** Reads a {@code TensorProto} file (a node test's input_N.pb / output_N.pb) into {@code arena}. */
    public static Tensor readTensorFile(Path path, Arena arena) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": cannot read: " + e.getMessage(), e);
        }
        TensorProto p;
        try {
            p = TensorProto.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": not a TensorProto (" + e.getMessage() + ")", e);
        }
        return new TensorDecoder(arena, null).decode(p, path.getFileName().toString());
    }
}
