package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.PackedB;
import dev.gatun.engine.cpu.Sgemm;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Supplier;
import jdk.incubator.vector.FloatVector;

/**
 * Gatun's fused operators, in Gatun's own domain {@value #DOMAIN} (opset {@value #OPSET}): what the graph optimiser
 * ({@code dev.gatun.engine.graph.passes}) puts in place of the sub-graphs exporters write for transformer layers.
 * float32 only (the passes fuse float32 sub-graphs only). Semantics follow ONNX Runtime's com.microsoft ops of the
 * same names where those exist; related ONNX specs: https://onnx.ai/onnx/operators/onnx__MatMul.html,
 * https://onnx.ai/onnx/operators/onnx__LayerNormalization.html, https://onnx.ai/onnx/operators/onnx__Gelu.html.
 *
 * <ul>
 *   <li>{@code FusedMatMul(A [..., M, K], B [K, N], bias [N]?, residual?)}, attribute {@code activation}
 *       ("", "Relu", "Gelu" (erf), "GeluTanh"): {@code Y = act(A x B + bias) + residual}, Y [..., M, N] (a 1-D A
 *       [K] gives Y [N], as MatMul). The batch dims of A fold into M. A constant B is packed once per model
 *       ({@link dev.gatun.engine.cpu.PackedB}); {@link Sgemm} splits the product over the session's threads and
 *       applies the bias, activation and residual as its {@link dev.gatun.engine.cpu.Epilogue} while each tile is in
 *       cache. A residual of Y's shape is added in the epilogue; one that only broadcasts to it goes through Add.</li>
 *   <li>{@code LayerNormalization(X, scale, B?)}, attributes {@code epsilon} (default 1e-5) and {@code axis}
 *       (only the last axis): as ONNX's opset 17 op with one output, for models of any opset. Per row of D
 *       elements: mean = sum x / D, var = sum (x - mean)^2 / D (sums in double blocks, {@link ReduceKernels}),
 *       y = (x - mean) / sqrt(var + epsilon) * scale + B; scale and B have D elements (or 1).</li>
 *   <li>{@code SkipLayerNormalization(X, skip, scale, B?)}, attribute {@code epsilon}: LayerNormalization of
 *       X + skip (the residual add of a transformer block), the sum formed row by row in the output buffer.
 *       skip may broadcast over X's leading dims (or X over skip's); other broadcasts go through Add.</li>
 *   <li>{@code Gelu(X)}, attribute {@code approximate} ("none" or "tanh"): as ONNX's opset 20 Gelu.</li>
 *   <li>{@code Attention(Q, K, V, mask?)}: BERT self-attention; see {@link AttentionKernel}.</li>
 *   <li>{@code FusedFeedForward(A, W1, bias1?, W2, bias2?, residual?)}: two FusedMatMuls in a row, for pruned
 *       weights; see {@link FeedForwardKernel}.</li>
 * </ul>
 */
public final class FusedOps implements OpFamily {
    /** The domain of Gatun's fused ops. */
    public static final String DOMAIN = "dev.gatun";
    /** Its opset version. */
    public static final int OPSET = 1;

    /** The op type of two FusedMatMuls in a row ({@link FeedForwardKernel}). */
    public static final String FUSED_FEED_FORWARD = "FusedFeedForward";

    /** FusedMatMul activations (the {@code activation} argument of {@link #epilogue}). */
    public static final int ACT_NONE = 0, ACT_RELU = 1, ACT_GELU = 2, ACT_GELU_TANH = 3;


    @Override
    public List<OpInfo> ops() {
        List<DType> f = List.of(DType.FLOAT);
        return List.of(
                new OpInfo(DOMAIN, "FusedMatMul", OPSET, f),
                new OpInfo(DOMAIN, "LayerNormalization", OPSET, f),
                new OpInfo(DOMAIN, "SkipLayerNormalization", OPSET, f),
                new OpInfo(DOMAIN, "Gelu", OPSET, f),
                new OpInfo(DOMAIN, "Attention", OPSET, f),
                new OpInfo(DOMAIN, FUSED_FEED_FORWARD, OPSET, f));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "FusedMatMul" -> planMatMul(node);
            case "LayerNormalization" -> planLayerNorm(node, false);
            case "SkipLayerNormalization" -> planLayerNorm(node, true);
            case "Gelu" -> planGelu(node);
            case "Attention" -> AttentionKernel.plan(node);
            case FUSED_FEED_FORWARD -> FeedForwardKernel.plan(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    /** The activation code for a FusedMatMul {@code activation} attribute value. */
    public static int activationCode(String name) {
        return switch (name) {
            case "" -> ACT_NONE;
            case "Relu" -> ACT_RELU;
            case "Gelu" -> ACT_GELU;
            case "GeluTanh" -> ACT_GELU_TANH;
            default -> -1;
        };
    }

    /** Refuses a node unless every present input is float32. */
    static void requireFloats(NodeSpec node) {
        for (int i = 0; i < node.inputCount(); i++) {
            if (node.hasInput(i)) {
                node.requireType(i, DType.FLOAT);
            }
        }
    }

    // ---------------------------------------------------------------- FusedMatMul

    private static Planned planMatMul(NodeSpec node) {
        requireFloats(node);
        if (!node.hasInput(0) || !node.hasInput(1)) {
            throw node.unsupported("FusedMatMul without A and B");
        }
        String actName = node.attrs().getString("activation", "");
        int act = activationCode(actName);
        if (act < 0) {
            throw node.unsupported("activation '" + actName + "' (supported: \"\", Relu, Gelu, GeluTanh)");
        }
        Tensor bConst = node.constant(1);
        PackedB packed = null;
        SparsePlanner.Choice sparse = null;
        if (bConst != null) {
            if (bConst.shape().rank() != 2) {
                throw node.unsupported("B of shape " + bConst.shape() + " (FusedMatMul needs a 2-D B)");
            }
            int k = MatMulOps.toInt(node, bConst.shape().dim(0));
            int n = MatMulOps.toInt(node, bConst.shape().dim(1));
            Supplier<PackedB> dense = () -> node.prepack().get("sgemm-packed-b", bConst, "",
                    arena -> PackedB.pack(arena, false, k, n, bConst.data(), 0, n));
            sparse = SparsePlanner.plan(node, bConst, false, dense);
            packed = sparse == null ? dense.get() : null;
        }
        Kernel add = node.hasInput(3) ? addKernel() : null;
        PackedB pb = packed;
        SparsePlanner.Choice sp = sparse;
        MatMulMemo memo = new MatMulMemo();
        return Planned.of((ctx, in) -> {
            Tensor y = matMulEpilogue(ctx, node, in[0], in[1], pb, sp, in.length > 2 ? in[2] : null, act,
                    in.length > 3 ? in[3] : null, memo);
            if (in.length > 3 && in[3] != null && !in[3].shape().equals(y.shape())) {
                return add.run(ctx, new Tensor[] {y, in[3]});
            }
            return Memo.outputs(memo.outputs, y);
        }, DType.FLOAT);
    }

    /** What a FusedMatMul kernel derives per run, cached across replayed runs ({@link Memo}). */
    static final class MatMulMemo {
        final Memo<Shape> shape = new Memo<>();
        final Memo<Epilogue> epilogue = new Memo<>();
        final Memo<Tensor[]> outputs = new Memo<>();
    }

    /**
     * {@code act(a x b + bias)}, plus {@code res} when it has the output's shape (else the caller adds it).
     * {@code packed} is b prepacked, or null to pack per task; {@code sparse} (when not null) is b planned sparse.
     */
    static Tensor matMulEpilogue(KernelContext ctx, NodeSpec node, Tensor a, Tensor b, PackedB packed,
                                 SparsePlanner.Choice sparse, Tensor bias, int act, Tensor res, MatMulMemo memo) {
        Shape as = a.shape();
        if (b.shape().rank() != 2) {
            throw node.error("B must be 2-D, got " + b.shape());
        }
        int k = MatMulOps.toInt(node, b.shape().dim(0));
        int n = MatMulOps.toInt(node, b.shape().dim(1));
        if (as.rank() < 1 || as.dim(as.rank() - 1) != k) {
            throw node.error("inner dims differ: A " + as + " x B " + b.shape());
        }
        if (bias != null && (bias.shape().rank() != 1 || bias.size() != n)) {
            throw node.error("bias " + bias.shape() + " must be [" + n + "] for B " + b.shape());
        }
        Shape ys = memo == null ? null : memo.shape.get(as, b.shape(), null);
        if (ys == null) {
            long[] dims = as.dims();
            dims[dims.length - 1] = n;
            ys = Shape.of(dims);
            if (memo != null) {
                memo.shape.put(as, b.shape(), null, ys);
            }
        }
        Tensor y = ctx.allocate(DType.FLOAT, ys);
        int rows = MatMulOps.toInt(node, as.sizeOf(0, as.rank() - 1));
        if (rows == 0 || n == 0) {
            return y;
        }
        Epilogue e = epilogue(memo, act, bias, res != null && res.shape().equals(ys) ? res : null, ys);
        if (sparse != null) {
            sparse.multiply(ctx, rows, a.data(), 0, k, y.data(), 0, n, e);
        } else if (packed != null) {
            Sgemm.sgemm(ctx, false, rows, 1f, a.data(), 0, k, packed, 0f, y.data(), 0, n, e);
        } else {
            Sgemm.sgemm(ctx, false, false, rows, n, k, 1f, a.data(), 0, k, b.data(), 0, n, 0f, y.data(), 0, n, e);
        }
        return y;
    }

    /**
     * The epilogue of a FusedMatMul with output shape {@code ys}: activation code {@code act}, bias [N] and residual
     * (of ys' shape) when not null; cached in {@code memo} when not null.
     */
    static Epilogue epilogue(MatMulMemo memo, int act, Tensor bias, Tensor res, Shape ys) {
        MemorySegment biasData = bias == null ? null : bias.data();
        MemorySegment resData = res == null ? null : res.data();
        Epilogue e = memo == null ? null : memo.epilogue.get(biasData, resData, ys);
        if (e == null) {
            e = Epilogue.of(switch (act) {
                case ACT_RELU -> Epilogue.Activation.RELU;
                case ACT_GELU -> Epilogue.Activation.GELU;
                case ACT_GELU_TANH -> Epilogue.Activation.GELU_TANH;
                default -> Epilogue.Activation.NONE;
            });
            if (biasData != null) {
                e = e.withBias(biasData, 0);
            }
            if (resData != null) {
                e = e.withResidual(resData, 0, ys.dim(ys.rank() - 1));
            }
            if (memo != null) {
                memo.epilogue.put(biasData, resData, ys, e);
            }
        }
        return e;
    }

    /** {@code c[i] = (c[i] + p[i]) + q[i]}, either of p and q may be null. */
    private static void addRows(MemorySegment c, long cOff, int n, MemorySegment p, long pOff, MemorySegment q, long qOff) {
        if (p == null) {
            p = q;
            pOff = qOff;
            q = null;
        }
        if (p == null) {
            return;
        }
        int bound = ReduceKernels.SPECIES.loopBound(n);
        int i = 0;
        if (q == null) {
            for (; i < bound; i += ReduceKernels.LANES) {
                ReduceKernels.store(ReduceKernels.load(c, cOff + i).add(ReduceKernels.load(p, pOff + i)), c, cOff + i);
            }
            for (; i < n; i++) {
                c.setAtIndex(F32, cOff + i, c.getAtIndex(F32, cOff + i) + p.getAtIndex(F32, pOff + i));
            }
        } else {
            for (; i < bound; i += ReduceKernels.LANES) {
                FloatVector v = ReduceKernels.load(c, cOff + i).add(ReduceKernels.load(p, pOff + i));
                ReduceKernels.store(v.add(ReduceKernels.load(q, qOff + i)), c, cOff + i);
            }
            for (; i < n; i++) {
                c.setAtIndex(F32, cOff + i, c.getAtIndex(F32, cOff + i) + p.getAtIndex(F32, pOff + i) + q.getAtIndex(F32, qOff + i));
            }
        }
    }

    /** ONNX's float32 Add (numpy broadcasting), for operands the fused kernels do not broadcast themselves. */
    static Kernel addKernel() {
        return OpRegistry.plan(NodeSpec.of("Add", 14, Attributes.empty(), 1, DType.FLOAT, DType.FLOAT)).kernel();
    }

    // ---------------------------------------------------------------- LayerNormalization, SkipLayerNormalization

    private static Planned planLayerNorm(NodeSpec node, boolean skip) {
        requireFloats(node);
        int si = skip ? 2 : 1;
        if (!node.hasInput(0) || (skip && !node.hasInput(1)) || !node.hasInput(si)) {
            throw node.unsupported(node.opType() + " without its " + (skip ? "X, skip and scale" : "X and scale") + " inputs");
        }
        if (node.outputCount() > 1) {
            throw node.unsupported(node.outputCount() + " outputs (only Y)");
        }
        long axis = node.attrs().getInt("axis", -1);
        float eps = node.attrs().getFloat("epsilon", 1e-5f);
        float[] scaleConst = node.constant(si) == null ? null : node.constant(si).toFloatArray();
        float[] biasConst = node.constant(si + 1) == null ? null : node.constant(si + 1).toFloatArray();
        Kernel add = skip ? addKernel() : null;
        Memo<Tensor[]> outputs = new Memo<>();
        Memo<long[][]> geometry = new Memo<>();
        LayerNormTasks region = new LayerNormTasks();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape s = x.shape();
            int rank = s.rank();
            if (rank == 0 || (axis != -1 && axis != rank - 1)) {
                throw node.error("only the last axis is normalized (axis " + axis + ", input " + s + ")");
            }
            Tensor other = null;
            if (skip) {
                Tensor sk = in[1];
                if (rowsBroadcast(sk.shape(), s)) {
                    other = sk;
                } else if (rowsBroadcast(s, sk.shape())) {
                    other = x;
                    x = sk;
                    s = sk.shape();
                } else {
                    x = add.run(ctx, new Tensor[] {x, sk})[0];
                    s = x.shape();
                }
            }
            int d = MatMulOps.toInt(node, s.dim(s.rank() - 1));
            float[] scale = vector(node, in[si], scaleConst, d, "scale");
            Tensor bTensor = in.length > si + 1 ? in[si + 1] : null;
            float[] bias = bTensor == null ? null : vector(node, bTensor, biasConst, d, "B");
            Tensor y = ctx.allocate(DType.FLOAT, s);
            long rowsL = d == 0 ? 0 : s.size() / d;
            int rows = MatMulOps.toInt(node, rowsL);
            if (rows == 0 || d == 0) {
                return Memo.outputs(outputs, y);
            }
            int tasks = ctx.threads() == 1 ? 1 : Math.min(rows, 4 * ctx.threads());
            Tensor main = x;
            Tensor sk = other;
            Shape skShape = sk == null ? null : sk.shape();
            long[][] dimsAndStrides = geometry.get(s, skShape, null);
            if (dimsAndStrides == null) {
                long[] dims = s.dims();
                dimsAndStrides = geometry.put(s, skShape, null, new long[][] {dims, sk == null ? null : rowStrides(skShape, dims)});
            }
            long[] mainDims = dimsAndStrides[0];
            long[] skStrides = dimsAndStrides[1];
            region.set(rows, tasks, d, eps, scale, bias, main.data(), sk == null ? null : sk.data(), y.data(), mainDims, skStrides);
            try {
                ctx.parallelFor(tasks, region);
            } finally {
                region.set(0, 0, 0, 0f, null, null, null, null, null, null, null);
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    /**
     * The rows of one LayerNorm node's region, split into {@code tasks} ranges: a reused object (one per planned
     * node; fields set before each region and cleared after) instead of a capturing lambda, so that a steady-state
     * run allocates nothing. {@code sk} null: plain LayerNorm of {@code main}; else the skip sum is normalized in y.
     */
    private static final class LayerNormTasks implements java.util.function.IntConsumer {
        private int rows, tasks, d;
        private float eps;
        private float[] scale, bias;
        private MemorySegment main, sk, y;
        private long[] mainDims, skStrides;

        void set(int rows, int tasks, int d, float eps, float[] scale, float[] bias, MemorySegment main,
                 MemorySegment sk, MemorySegment y, long[] mainDims, long[] skStrides) {
            this.rows = rows;
            this.tasks = tasks;
            this.d = d;
            this.eps = eps;
            this.scale = scale;
            this.bias = bias;
            this.main = main;
            this.sk = sk;
            this.y = y;
            this.mainDims = mainDims;
            this.skStrides = skStrides;
        }

        @Override
        public void accept(int t) {
            long r0 = (long) rows * t / tasks;
            long r1 = (long) rows * (t + 1) / tasks;
            for (long r = r0; r < r1; r++) {
                long off = r * d;
                if (sk == null) {
                    normalizeRow(main, off, y, off, d, eps, scale, bias);
                } else {
                    long so = skStrides == null ? off : skipRowOffset(r, mainDims, skStrides);
                    addRows(y, off, main, off, sk, so, d);
                    normalizeRow(y, off, y, off, d, eps, scale, bias);
                }
            }
        }
    }

    /** LayerNorm of one row of {@code d} floats: statistics as {@link RowNorm} computes them. */
    static void normalizeRow(MemorySegment x, long xOff, MemorySegment y, long yOff, int d, float eps, float[] scale, float[] bias) {
        float mean = (float) (ReduceKernels.sum(x, xOff, d) / d);
        double inv = 1.0 / Math.sqrt(ReduceKernels.sumSqDiff(x, xOff, d, mean) / d + eps);
        ReduceKernels.normalizeRow(x, xOff, y, yOff, d, mean, (float) inv, scale, bias);
    }

    /** {@code y[yOff + i] = a[aOff + i] + b[bOff + i]} for i in [0, n). */
    private static void addRows(MemorySegment y, long yOff, MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        int bound = ReduceKernels.SPECIES.loopBound(n);
        int i = 0;
        for (; i < bound; i += ReduceKernels.LANES) {
            ReduceKernels.store(ReduceKernels.load(a, aOff + i).add(ReduceKernels.load(b, bOff + i)), y, yOff + i);
        }
        for (; i < n; i++) {
            y.setAtIndex(F32, yOff + i, a.getAtIndex(F32, aOff + i) + b.getAtIndex(F32, bOff + i));
        }
    }

    /** Whether {@code o} broadcasts to {@code m} (numpy rules) by whole rows: same last dim, no larger rank. */
    static boolean rowsBroadcast(Shape o, Shape m) {
        int ro = o.rank();
        int rm = m.rank();
        if (ro > rm || ro == 0 || rm == 0 || o.dim(ro - 1) != m.dim(rm - 1)) {
            return false;
        }
        for (int i = 0; i < ro; i++) {
            long od = o.dim(ro - 1 - i);
            if (od != 1 && od != m.dim(rm - 1 - i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Element strides of {@code o}'s rows seen over the leading dims of {@code mainDims} (0 where o broadcasts),
     * or null when o has exactly the main shape's size (rows map one to one).
     */
    private static long[] rowStrides(Shape o, long[] mainDims) {
        if (o.size() == Shape.of(mainDims).size()) {
            return null;
        }
        int lead = mainDims.length - 1;
        long[] strides = new long[lead];
        int ro = o.rank();
        long acc = o.dim(ro - 1);
        for (int i = lead - 1; i >= 0; i--) {
            int oi = i - (mainDims.length - ro);
            long od = oi >= 0 ? o.dim(oi) : 1;
            strides[i] = od == 1 ? 0 : acc;
            acc *= od;
        }
        return strides;
    }

    /** The element offset in the broadcast operand of main row {@code r}. */
    private static long skipRowOffset(long r, long[] mainDims, long[] strides) {
        long off = 0;
        for (int i = strides.length - 1; i >= 0; i--) {
            long dim = mainDims[i];
            off += (r % dim) * strides[i];
            r /= dim;
        }
        return off;
    }

    /** A scale or bias input as {@code d} floats (its constant value when known), a single value broadcast. */
    private static float[] vector(NodeSpec node, Tensor t, float[] constant, int d, String name) {
        float[] v = constant != null ? constant : t.toFloatArray();
        if (v.length == d) {
            return v;
        }
        if (v.length == 1) {
            float[] e = new float[d];
            java.util.Arrays.fill(e, v[0]);
            return e;
        }
        throw node.error(name + " " + t.shape() + " must have " + d + " elements (the normalized dim)");
    }

    // ---------------------------------------------------------------- Gelu

    private static Planned planGelu(NodeSpec node) {
        requireFloats(node);
        String approx = node.attrs().getString("approximate", "none");
        int code = switch (approx) {
            case "none" -> FloatLoops.GELU;
            case "tanh" -> FloatLoops.GELU_TANH;
            default -> throw node.unsupported("approximate='" + approx + "' (must be none or tanh)");
        };
        GeluTasks region = new GeluTasks(code);
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Tensor y = ctx.allocate(DType.FLOAT, x.shape());
            long n = x.size();
            int tasks = ctx.threads() == 1 ? 1 : (int) Math.max(1, Math.min(4L * ctx.threads(), n / 4096));
            region.set(x.data(), y.data(), n, tasks, (n / tasks + 63) & ~63L);
            try {
                ctx.parallelFor(tasks, region);
            } finally {
                region.set(null, null, 0, 0, 0);
            }
            return new Tensor[] {y};
        }, DType.FLOAT);
    }

    /** One Gelu node's region: chunks of 64-float multiples. Reused like {@link LayerNormTasks}. */
    private static final class GeluTasks implements java.util.function.IntConsumer {
        private final int code;
        private MemorySegment x, y;
        private long n, chunk;
        private int tasks;

        GeluTasks(int code) {
            this.code = code;
        }

        void set(MemorySegment x, MemorySegment y, long n, int tasks, long chunk) {
            this.x = x;
            this.y = y;
            this.n = n;
            this.tasks = tasks;
            this.chunk = chunk;
        }

        @Override
        public void accept(int t) {
            long from = Math.min(n, t * chunk);
            long to = t == tasks - 1 ? n : Math.min(n, from + chunk);
            FloatLoops.unary(code, 0, 0, x, from, y, from, to - from);
        }
    }

    /** Attributes of a fused node, for the passes: name/value pairs (Long, Float, String). */
    public static Attributes attributes(Object... kv) {
        java.util.Map<String, dev.gatun.engine.graph.Attribute> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            m.put((String) kv[i], switch (v) {
                case Long l -> new dev.gatun.engine.graph.Attribute.Int(l);
                case Integer l -> new dev.gatun.engine.graph.Attribute.Int(l);
                case Float f -> new dev.gatun.engine.graph.Attribute.Float(f);
                case String str -> new dev.gatun.engine.graph.Attribute.Str(str);
                default -> throw new IllegalArgumentException(String.valueOf(v));
            });
        }
        return new Attributes(m);
    }
}
