package dev.gatun.engine.prune;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.onnx.TensorDecoder;
import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.GraphProto;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.onnx.proto.Onnx.SparseTensorProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.onnx.proto.Onnx.ValueInfoProto;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Magnitude pruning of the constant weights of MatMul, Gemm and Conv nodes, written back as ONNX with the pruned
 * weights as {@code sparse_initializer}s (see {@link SparseEncoding}); everything else in the model (opsets,
 * metadata, names, other initializers) is kept as it was. External data is inlined, so the result is one file.
 *
 * <pre>{@code
 * PrunedModel p = Pruner.prune(Path.of("model.onnx"), PruneOptions.of(0.8).withPerLayer(true));
 * p.report().layers().forEach(l -> System.out.println(l.node() + " " + l.sparsity() + " " + l.relativeError()));
 * p.write(Path.of("model-pruned.onnx"));      // or: try (Model m = p.load()) { ... }
 * }</pre>
 *
 * The weight of a node is its input that is an initializer (dense or sparse): MatMul's B (or A when only A is
 * constant), Gemm's B, Conv's W. A weight that is not float, is read by other nodes too, or is a graph output is
 * left dense and listed in {@link PruneReport#skipped()}. The reduction axis of each weight ({@link WeightView})
 * orients 2:4 groups and blocks.
 */
public final class Pruner {
    /** Receives progress: {@code done} of {@code total} steps of {@code phase} ("reading", "pruning", "writing"). */
    @FunctionalInterface
    public interface Progress {
        void update(String phase, int done, int total);

        Progress NONE = (phase, done, total) -> { };
    }

    private Pruner() {}

    /** Prunes the model file {@code file}. */
    public static PrunedModel prune(Path file, PruneOptions options) throws IOException {
        return prune(file, options, Progress.NONE);
    }

    /** Prunes the model file {@code file}, reporting progress. */
    public static PrunedModel prune(Path file, PruneOptions options, Progress progress) throws IOException {
        byte[] bytes;
        try {
            if (Files.size(file) > Integer.MAX_VALUE) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": over protobuf's 2 GiB limit");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, file + ": no such file");
        }
        return prune(bytes, file.getFileName().toString(), file.toAbsolutePath().getParent(), options, progress);
    }

    /** Prunes a model held in memory (external data is refused). */
    public static PrunedModel prune(byte[] model, String name, PruneOptions options, Progress progress) {
        return prune(model, name, null, options, progress);
    }

    private static PrunedModel prune(byte[] bytes, String name, Path dir, PruneOptions options, Progress progress) {
        ModelProto model = parse(bytes, name);
        try (Arena arena = Arena.ofConfined()) {
            TensorDecoder decoder = new TensorDecoder(arena, dir);
            return new Run(model, name, decoder, options, progress).prune(bytes.length);
        }
    }

    private static ModelProto parse(byte[] bytes, String name) {
        try {
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(bytes).newCodedInput();
            in.enableAliasing(true);
            in.setRecursionLimit(64);
            in.setSizeLimit(Integer.MAX_VALUE);
            ModelProto m = ModelProto.parseFrom(in);
            if (!m.hasGraph()) {
                throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not an ONNX model (no graph)");
            }
            return m;
        } catch (InvalidProtocolBufferException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not a valid ONNX model (protobuf: " + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": not a valid ONNX model (" + e + ")", e);
        }
    }

    /** A weight chosen for pruning. */
    private record Candidate(String node, String opType, String weight, long[] dims, boolean transposedA, long transB) {}

    /** One pruning run over a parsed model. */
    private static final class Run {
        private final ModelProto model;
        private final String name;
        private final TensorDecoder decoder;
        private final PruneOptions options;
        private final Progress progress;
        private final Map<String, TensorProto> dense = new LinkedHashMap<>();
        private final Map<String, SparseTensorProto> sparse = new LinkedHashMap<>();
        private final List<PruneReport.Skipped> skipped = new ArrayList<>();

        Run(ModelProto model, String name, TensorDecoder decoder, PruneOptions options, Progress progress) {
            this.model = model;
            this.name = name;
            this.decoder = decoder;
            this.options = options;
            this.progress = progress;
        }

        PrunedModel prune(long originalBytes) {
            GraphProto g = model.getGraph();
            g.getInitializerList().forEach(t -> dense.put(t.getName(), t));
            g.getSparseInitializerList().forEach(s -> sparse.put(s.getValues().getName(), s));
            List<Candidate> candidates = select(candidates(g));

            List<Masks.Layer> layers = new ArrayList<>();
            List<float[]> originals = new ArrayList<>();
            for (int i = 0; i < candidates.size(); i++) {
                progress.update("reading", i, candidates.size());
                Candidate c = candidates.get(i);
                float[] w = read(c.weight);
                originals.add(w.clone());
                layers.add(new Masks.Layer(w, view(c)));
            }
            progress.update("reading", candidates.size(), candidates.size());
            mask(layers);

            Map<String, TensorProto> newDense = new HashMap<>();
            Map<String, SparseTensorProto> newSparse = new HashMap<>();
            List<PruneReport.Layer> report = new ArrayList<>();
            for (int i = 0; i < candidates.size(); i++) {
                progress.update("writing", i, candidates.size());
                Candidate c = candidates.get(i);
                float[] w = layers.get(i).w();
                float[] before = originals.get(i);
                long denseBytes = 4L * w.length;
                long sparseBytes = SparseEncoding.sparseBytes(w, options.indexType());
                boolean asSparse = sparseBytes < denseBytes;
                if (asSparse) {
                    newSparse.put(c.weight, SparseEncoding.sparse(c.weight, w, c.dims, options.indexType()));
                } else {
                    newDense.put(c.weight, SparseEncoding.dense(c.weight, w, c.dims));
                }
                report.add(new PruneReport.Layer(c.node, c.opType, c.weight, c.dims, zeros(before), zeros(w), relativeError(before, w),
                        denseBytes, asSparse ? sparseBytes : denseBytes, asSparse));
            }
            progress.update("writing", candidates.size(), candidates.size());

            GraphProto.Builder gb = g.toBuilder().clearInitializer().clearSparseInitializer();
            for (TensorProto t : g.getInitializerList()) {
                if (newSparse.containsKey(t.getName())) {
                    continue;
                }
                gb.addInitializer(newDense.containsKey(t.getName()) ? newDense.get(t.getName()) : inlined(t));
            }
            for (SparseTensorProto s : g.getSparseInitializerList()) {
                String n = s.getValues().getName();
                if (newDense.containsKey(n)) {
                    gb.addInitializer(newDense.get(n));
                } else if (!newSparse.containsKey(n)) {
                    gb.addSparseInitializer(s);
                }
            }
            for (Candidate c : candidates) {
                if (newSparse.containsKey(c.weight)) {
                    gb.addSparseInitializer(newSparse.get(c.weight));
                }
            }
            ModelProto.Builder mb = model.toBuilder().setGraph(gb);
            boolean bump = gb.getSparseInitializerCount() > 0 && model.getIrVersion() < 6;
            if (bump) {
                mb.setIrVersion(6);
            }
            return new PrunedModel(name, mb.build(), new PruneReport(options, report, skipped, bump), originalBytes);
        }

        /** MatMul/Gemm/Conv nodes with a constant weight; unprunable ones go to {@code skipped}. */
        private List<Candidate> candidates(GraphProto g) {
            Map<String, List<String>> readers = new HashMap<>();
            collectReaders(g, readers, "");
            Set<String> outputs = new HashSet<>();
            g.getOutputList().forEach(o -> outputs.add(o.getName()));
            List<Candidate> out = new ArrayList<>();
            for (int i = 0; i < g.getNodeCount(); i++) {
                NodeProto n = g.getNode(i);
                String node = nodeName(n, i);
                boolean onnx = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
                String op = n.getOpType();
                if (!onnx || !(op.equals("MatMul") || op.equals("Gemm") || op.equals("Conv")) || n.getInputCount() < 2) {
                    continue;
                }
                int wi;
                if (isConstant(n.getInput(1))) {
                    wi = 1;
                } else if (op.equals("MatMul") && isConstant(n.getInput(0))) {
                    wi = 0;
                } else {
                    continue;
                }
                String weight = n.getInput(wi);
                int type = elemType(weight);
                long[] dims = dims(weight);
                List<String> users = readers.getOrDefault(weight, List.of());
                String reason = null;
                if (type != TensorProto.DataType.FLOAT_VALUE) {
                    reason = "weight type " + TensorProto.DataType.forNumber(type) + " (only float weights are pruned)";
                } else if (users.size() > 1) {
                    reason = "weight also read by " + users.stream().filter(u -> !u.equals(node)).distinct().toList();
                } else if (outputs.contains(weight)) {
                    reason = "weight is a graph output";
                } else if (op.equals("Gemm") && dims.length != 2) {
                    reason = "Gemm weight of rank " + dims.length;
                } else if (op.equals("Conv") && dims.length < 3) {
                    reason = "Conv weight of rank " + dims.length;
                } else if (dims.length == 0 || product(dims) == 0) {
                    reason = "empty or scalar weight";
                } else if (product(dims) > Integer.MAX_VALUE - 16) {
                    reason = "weight of " + product(dims) + " elements, over 2^31";
                }
                if (reason != null) {
                    skipped.add(new PruneReport.Skipped(node, op, weight, reason));
                    continue;
                }
                out.add(new Candidate(node, op, weight, dims, wi == 0, op.equals("Gemm") ? intAttr(n, "transB") : 0));
            }
            return out;
        }

        /** Applies --include / --exclude; every name or glob given must match a candidate (a typo is an error). */
        private List<Candidate> select(List<Candidate> all) {
            for (String p : options.include()) {
                requireMatch(p, all, "include");
            }
            for (String p : options.exclude()) {
                requireMatch(p, all, "exclude");
            }
            List<Candidate> out = new ArrayList<>();
            for (Candidate c : all) {
                boolean in = options.include().isEmpty() || options.include().stream().anyMatch(p -> PruneOptions.matches(p, c.node));
                boolean ex = options.exclude().stream().anyMatch(p -> PruneOptions.matches(p, c.node));
                if (in && !ex) {
                    out.add(c);
                } else {
                    skipped.add(new PruneReport.Skipped(c.node, c.opType, c.weight, ex ? "excluded" : "not included"));
                }
            }
            return out;
        }

        private void requireMatch(String pattern, List<Candidate> all, String what) {
            if (all.stream().noneMatch(c -> PruneOptions.matches(pattern, c.node))) {
                List<String> names = all.stream().map(Candidate::node).limit(8).toList();
                throw new IllegalArgumentException(what + " '" + pattern + "' matches no MatMul/Gemm/Conv node with a prunable weight"
                        + (all.isEmpty() ? " (the model has none)" : "; they are " + names + (all.size() > names.size() ? " and "
                        + (all.size() - names.size()) + " more" : "")));
            }
        }

        private void mask(List<Masks.Layer> layers) {
            long total = layers.stream().mapToLong(l -> l.w().length).sum();
            int steps = options.perLayer() || options.pattern() instanceof PruneOptions.PrunePattern.TwoFour ? layers.size() : 1;
            progress.update("pruning", 0, steps);
            switch (options.pattern()) {
                case PruneOptions.PrunePattern.Unstructured u -> {
                    if (options.perLayer()) {
                        for (int i = 0; i < layers.size(); i++) {
                            Masks.unstructured(List.of(layers.get(i)), Math.round(options.sparsity() * layers.get(i).w().length));
                            progress.update("pruning", i + 1, steps);
                        }
                    } else {
                        Masks.unstructured(layers, Math.round(options.sparsity() * total));
                    }
                }
                case PruneOptions.PrunePattern.TwoFour t -> {
                    for (int i = 0; i < layers.size(); i++) {
                        Masks.twoFour(layers.get(i));
                        progress.update("pruning", i + 1, steps);
                    }
                }
                case PruneOptions.PrunePattern.Block b -> {
                    if (options.perLayer()) {
                        for (int i = 0; i < layers.size(); i++) {
                            Masks.blocks(List.of(layers.get(i)), b.rows(), b.cols(), Math.round(options.sparsity() * layers.get(i).w().length));
                            progress.update("pruning", i + 1, steps);
                        }
                    } else {
                        Masks.blocks(layers, b.rows(), b.cols(), Math.round(options.sparsity() * total));
                    }
                }
            }
            progress.update("pruning", steps, steps);
        }

        private static WeightView view(Candidate c) {
            long[] d = c.dims;
            int r = d.length;
            return switch (c.opType) {
                case "Conv" -> WeightView.outputsFirst(d);
                case "Gemm" -> c.transB != 0 ? WeightView.of(d, 0, 1) : WeightView.of(d, 1, 0);
                default -> r == 1 ? WeightView.vector(d[0]) : c.transposedA ? WeightView.of(d, r - 2, r - 1) : WeightView.of(d, r - 1, r - 2);
            };
        }

        private boolean isConstant(String name) {
            return dense.containsKey(name) || sparse.containsKey(name);
        }

        private int elemType(String weight) {
            TensorProto t = dense.containsKey(weight) ? dense.get(weight) : sparse.get(weight).getValues();
            return t.getDataType();
        }

        private long[] dims(String weight) {
            List<Long> d = dense.containsKey(weight) ? dense.get(weight).getDimsList() : sparse.get(weight).getDimsList();
            return d.stream().mapToLong(Long::longValue).toArray();
        }

        private float[] read(String weight) {
            String what = name + ": initializer '" + weight + "'";
            Tensor t = dense.containsKey(weight) ? decoder.decode(dense.get(weight), what) : decoder.decodeSparse(sparse.get(weight), what);
            return t.toFloatArray();
        }

        /** {@code t} with external data read into raw_data, so the output stands alone; other tensors as they are. */
        private TensorProto inlined(TensorProto t) {
            if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
                return t;
            }
            Tensor v = decoder.decode(t, name + ": initializer '" + t.getName() + "'");
            byte[] b = new byte[Math.toIntExact(v.byteSize())];
            MemorySegment.copy(v.data(), 0, MemorySegment.ofArray(b), 0, b.length);
            return t.toBuilder().clearExternalData().clearDataLocation().setRawData(ByteString.copyFrom(b)).build();
        }

        private static void collectReaders(GraphProto g, Map<String, List<String>> readers, String prefix) {
            for (int i = 0; i < g.getNodeCount(); i++) {
                NodeProto n = g.getNode(i);
                String node = prefix + nodeName(n, i);
                for (String in : n.getInputList()) {
                    readers.computeIfAbsent(in, k -> new ArrayList<>()).add(node);
                }
                for (AttributeProto a : n.getAttributeList()) {
                    if (a.hasG()) {
                        collectSubgraph(a.getG(), readers, node);
                    }
                    for (GraphProto sub : a.getGraphsList()) {
                        collectSubgraph(sub, readers, node);
                    }
                }
            }
        }

        /** A subgraph reads an outer value through any node input or graph output naming it. */
        private static void collectSubgraph(GraphProto sub, Map<String, List<String>> readers, String node) {
            collectReaders(sub, readers, node + "/");
            for (ValueInfoProto o : sub.getOutputList()) {
                readers.computeIfAbsent(o.getName(), k -> new ArrayList<>()).add(node + "/" + sub.getName());
            }
        }

        private static String nodeName(NodeProto n, int index) {
            return n.getName().isEmpty() ? n.getOpType() + "_" + index : n.getName();
        }

        private static long intAttr(NodeProto n, String attr) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.getName().equals(attr)) {
                    return a.getI();
                }
            }
            return 0;
        }
    }

    private static long product(long[] dims) {
        long p = 1;
        for (long d : dims) {
            if (d < 0) {
                return -1;
            }
            p = Math.multiplyHigh(p, d) != 0 ? Long.MAX_VALUE : p * d;
        }
        return p;
    }

    private static long zeros(float[] w) {
        return w.length - SparseEncoding.nonzeros(w);
    }

    private static double relativeError(float[] before, float[] after) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < before.length; i++) {
            double d = (double) before[i] - after[i];
            num += d * d;
            den += (double) before[i] * before[i];
        }
        return den == 0 ? 0 : Math.sqrt(num / den);
    }
}
