package dev.gatun.engine.quant;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Quantizes a float32 ONNX model to int8, as a file or in memory:
 * <pre>{@code
 * Quantizer.Quantized q = Quantizer.quantize(Path.of("model.onnx"), QuantOptions.dynamic(), null);
 * q.write(Path.of("model-int8.onnx"));          // or: try (Model m = q.load()) { ... }
 * System.out.print(q.report().format());
 * }</pre>
 *
 * <ul>
 *   <li><b>Dynamic</b> ({@link QuantOptions#dynamic()}): the weight of every MatMul and Gemm (and Conv with
 *       {@code conv}) becomes int8 (symmetric, per output channel or per tensor); its input is quantized at run time.
 *       Each MatMul / Gemm becomes the chain ONNX Runtime's {@code quantize_dynamic} writes,
 *       {@code DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) [-> Add(bias)]}, which
 *       Gatun's {@code QuantMatMulFusion} runs as one fused integer GEMM; a Conv becomes the same chain around
 *       {@code ConvInteger} (uint8 weights with zero point 128, as ONNX Runtime's ConvInteger takes only uint8).</li>
 *   <li><b>Static</b> ({@link QuantOptions#staticInt8()}): activation ranges are calibrated by running the float
 *       model on sample inputs ({@link Calibrator}); Conv, MatMul and Gemm get uint8 activations and int8 weights,
 *       written as QDQ (Quantize/DequantizeLinear pairs, see {@link StaticPass}) or QOperator ops.</li>
 * </ul>
 * The output is standard ONNX (ai.onnx domain only) that ONNX Runtime loads too. Nodes that cannot or should not be
 * quantized stay in float and are listed in the {@link QuantReport} with the reason.
 */
public final class Quantizer {
    /** Receives calibration progress: {@code done} of {@code total} runs of {@code phase}. */
    @FunctionalInterface
    public interface Progress {
        void update(String phase, int done, int total);
    }

    /** A quantized model: its serialized ONNX bytes and the report. */
    public record Quantized(byte[] bytes, QuantReport report) {
        /** Writes the model to {@code file}. */
        public void write(Path file) {
            try {
                Files.write(file, bytes);
            } catch (IOException e) {
                throw new EngineException(EngineException.Kind.RUNTIME, file + ": cannot write: " + e.getMessage(), e);
            }
        }

        /** Loads the quantized model into Gatun (no file involved). */
        public Model load(String name) {
            return Model.load(bytes, name);
        }
    }

    private Quantizer() {}

    /** Quantizes the model file {@code model}; {@code progress} may be null. */
    public static Quantized quantize(Path model, QuantOptions options, Progress progress) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(model);
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, model + ": cannot read: " + e.getMessage(), e);
        }
        Path dir = model.toAbsolutePath().getParent();
        return quantize(bytes, model.getFileName().toString(), dir, options, progress);
    }

    /** Quantizes a model held in memory ({@code name} names it in messages; external data is refused). */
    public static Quantized quantize(byte[] model, String name, QuantOptions options, Progress progress) {
        return quantize(model, name, null, options, progress);
    }

    /** Quantizes {@code model} and loads the result into Gatun: quantization at load time, no file written. */
    public static Model load(Path model, QuantOptions options) {
        return quantize(model, options, null).load(model.getFileName().toString());
    }

    private static Quantized quantize(byte[] bytes, String name, Path dir, QuantOptions options, Progress progress) {
        ModelProto proto = parse(bytes, name);
        try (Arena arena = Arena.ofConfined()) {
            ProtoGraph g = new ProtoGraph(proto, name, arena, dir);
            List<QuantReport.Skipped> skipped = new ArrayList<>();
            List<Target> targets = targets(g, options, skipped);
            List<QuantReport.Layer> layers = new ArrayList<>();
            int activations = 0;
            int samples = 0;
            String mode;
            if (options.mode() == QuantOptions.Mode.DYNAMIC) {
                DynamicPass.apply(g, targets, options, layers);
                mode = "dynamic, " + (options.perChannel() ? "per-channel" : "per-tensor") + " int8 weights";
            } else {
                StaticPass.Outcome o = StaticPass.apply(g, targets, options, bytes, name, dir, progress, layers, skipped);
                activations = o.activations();
                samples = o.samples();
                mode = "static, " + options.format().name().toLowerCase(Locale.ROOT) + ", "
                        + options.method().name().toLowerCase(Locale.ROOT) + ", "
                        + (options.perChannel() ? "per-channel" : "per-tensor") + " int8 weights, uint8 activations";
            }
            g.removeDead();
            byte[] out = g.build().toByteArray();
            return new Quantized(out, new QuantReport(mode, layers, skipped, activations, samples, bytes.length, out.length));
        }
    }

    static ModelProto parse(byte[] bytes, String name) {
        try {
            CodedInputStream in = CodedInputStream.newInstance(bytes);
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
            throw new EngineException(EngineException.Kind.MODEL_LOAD, name + ": cannot parse: " + e.getMessage(), e);
        }
    }

    /** What kind of product a target is. */
    enum Kind { MATMUL, GEMM, CONV }

    /**
     * A node to quantize: its weight as float, laid out [K, N] for MatMul / Gemm (transposed from Gemm's
     * transB form) and as stored ([M, C/group, k...]) for Conv, and its bias (Gemm's C when [N], Conv's B) or null.
     * A MatMul whose only reader is an Add of a constant float32 [N] has that node in {@code biasAdd} and its values
     * in {@code addBias} (static mode treats the pair as one layer).
     */
    record Target(NodeProto node, Kind kind, String input, float[] weight, long[] weightDims, String bias, float[] biasValues,
                  String originalWeightShape, NodeProto biasAdd, float[] addBias) {
        String name() {
            return node.getName();
        }

        String output() {
            return node.getOutput(0);
        }

        /** Output channels (N, or M for Conv). */
        int channels() {
            return (int) (kind == Kind.CONV ? weightDims[0] : weightDims[1]);
        }

        /** The per-channel axis of {@link #weight()}'s layout. */
        int channelAxis() {
            return kind == Kind.CONV ? 0 : 1;
        }
    }

    /** The Conv / MatMul / Gemm nodes to quantize; the others (with their reason) into {@code skipped}. */
    static List<Target> targets(ProtoGraph g, QuantOptions o, List<QuantReport.Skipped> skipped) {
        List<Target> out = new ArrayList<>();
        for (NodeProto n : g.nodes) {
            String op = n.getOpType();
            boolean domainOk = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
            if (!domainOk || !(op.equals("MatMul") || op.equals("Gemm") || op.equals("Conv"))) {
                continue;
            }
            if (op.equals("Conv") && o.mode() == QuantOptions.Mode.DYNAMIC && !o.conv()) {
                skipped.add(new QuantReport.Skipped(n.getName(), op, "Conv is quantized in dynamic mode only with --conv"));
                continue;
            }
            String why = whyNot(g, n, o);
            if (why != null) {
                skipped.add(new QuantReport.Skipped(n.getName(), op, why));
                continue;
            }
            out.add(target(g, n));
        }
        return out;
    }

    private static String whyNot(ProtoGraph g, NodeProto n, QuantOptions o) {
        String op = n.getOpType();
        if (o.exclude().contains(n.getName())) {
            return "excluded by name";
        }
        if (n.getInputCount() < 2 || n.getOutputCount() != 1) {
            return "unexpected inputs/outputs";
        }
        if (g.isConstant(n.getInput(0))) {
            return "its input is a constant (folded at load)";
        }
        Tensor w = g.constant(n.getInput(1));
        if (w == null) {
            return "its second operand is not a constant weight (a product of two activations)";
        }
        if (w.dtype() != DType.FLOAT) {
            return "its weight is " + w.dtype() + ", not float32";
        }
        int rank = w.shape().rank();
        switch (op) {
            case "MatMul" -> {
                if (rank != 2) {
                    return "its weight has rank " + rank + " (2-D weights only)";
                }
            }
            case "Gemm" -> {
                if (ProtoGraph.intAttr(n, "transA", 0) != 0) {
                    return "transA=1";
                }
                if (ProtoGraph.floatAttr(n, "alpha", 1f) != 1f || (n.getInputCount() > 2 && ProtoGraph.floatAttr(n, "beta", 1f) != 1f)) {
                    return "alpha or beta is not 1";
                }
                if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
                    Tensor c = g.constant(n.getInput(2));
                    long cols = w.shape().dim(ProtoGraph.intAttr(n, "transB", 0) != 0 ? 0 : 1);
                    if (c == null || c.dtype() != DType.FLOAT || c.shape().rank() != 1 || c.size() != cols) {
                        return "its C is not a constant float32 bias of shape [" + cols + "]";
                    }
                }
            }
            default -> {
                if (rank < 3 || rank > 5) {
                    return "its weight has rank " + rank;
                }
                if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
                    Tensor b = g.constant(n.getInput(2));
                    if (b == null || b.dtype() != DType.FLOAT) {
                        return "its bias is not a constant float32";
                    }
                }
            }
        }
        return null;
    }

    private static Target target(ProtoGraph g, NodeProto n) {
        Tensor w = g.constant(n.getInput(1));
        float[] wf = w.toFloatArray();
        long[] dims = w.shape().dims();
        String shape = Arrays.toString(dims);
        Kind kind = switch (n.getOpType()) {
            case "MatMul" -> Kind.MATMUL;
            case "Gemm" -> Kind.GEMM;
            default -> Kind.CONV;
        };
        if (kind == Kind.GEMM && ProtoGraph.intAttr(n, "transB", 0) != 0) {
            int rows = (int) dims[0];
            int cols = (int) dims[1];
            float[] t = new float[wf.length];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    t[c * rows + r] = wf[r * cols + c];
                }
            }
            wf = t;
            dims = new long[] {cols, rows};
        }
        String bias = null;
        float[] bv = null;
        if (kind != Kind.MATMUL && n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            bias = n.getInput(2);
            bv = g.constant(bias).toFloatArray();
        }
        NodeProto add = null;
        float[] addBias = null;
        if (kind == Kind.MATMUL && !g.graphOutputs.contains(n.getOutput(0))) {
            List<NodeProto> readers = g.consumers().getOrDefault(n.getOutput(0), List.of());
            NodeProto r = readers.size() == 1 ? readers.get(0) : null;
            if (r != null && r.getOpType().equals("Add") && r.getDomain().isEmpty() && r.getInputCount() == 2) {
                String other = r.getInput(0).equals(n.getOutput(0)) ? r.getInput(1) : r.getInput(0);
                Tensor c = other.equals(n.getOutput(0)) ? null : g.constant(other);
                if (c != null && c.dtype() == DType.FLOAT && c.shape().rank() == 1 && c.size() == dims[1]) {
                    add = r;
                    addBias = c.toFloatArray();
                }
            }
        }
        return new Target(n, kind, n.getInput(0), wf, dims, bias, bv, shape, add, addBias);
    }

    static QuantReport.Layer layer(Target t, QuantMath.Weights q, boolean perChannel) {
        return new QuantReport.Layer(t.name(), t.node().getOpType(), t.originalWeightShape(), perChannel, q.relError(), q.maxAbsError());
    }
}
