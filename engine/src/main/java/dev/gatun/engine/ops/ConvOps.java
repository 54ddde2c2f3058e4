package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.ConvDirect;
import dev.gatun.engine.cpu.ConvDirectPool;
import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.ConvGemm;
import dev.gatun.engine.cpu.ConvSmallPlane;
import dev.gatun.engine.cpu.ConvKernels;
import dev.gatun.engine.cpu.DepthwiseConv;
import dev.gatun.engine.cpu.PhaseLayout;
import dev.gatun.engine.cpu.Sgemm;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.LongFunction;

/**
 * Convolutions: Conv and ConvTranspose, N-D with groups, strides, dilations, pads and auto_pad.
 *
 * <ul>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__Conv.html">Conv</a> (1, 11, 22):
 *       X [N, C, D1..Dn], W [M, C/group, k1..kn], optional B [M] -> Y [N, M, o1..on] with
 *       {@code Y[n,m,o] = B[m] + sum_{c,k} X[n, g*C/group + c, o*s - padBegin + k*d] * W[m,c,k]}, g = m / (M/group),
 *       input outside the image reading 0, and {@code o_i = floor((D_i + padBegin_i + padEnd_i - ((k_i-1)*d_i+1)) / s_i) + 1}.
 *       SAME_UPPER / SAME_LOWER choose the pads so that {@code o_i = ceil(D_i / s_i)}, the odd extra pad at the end /
 *       the beginning; VALID pads nothing.</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__ConvTranspose.html">ConvTranspose</a> (1, 11, 22):
 *       X [N, C, D1..Dn], W [C, M/group, k1..kn], optional B [M] -> Y [N, M, o1..on], the adjoint of Conv:
 *       every {@code X[n,c,i] * W[c,m,k]} is added to {@code Y[n, g*M/group + m, i*s - padBegin + k*d]};
 *       {@code o_i = s_i*(D_i-1) + outputPadding_i + (k_i-1)*d_i + 1 - padBegin_i - padEnd_i}, or {@code output_shape}
 *       (pads then derived from it; likewise SAME_* aim at {@code o_i = D_i * s_i}).</li>
 * </ul>
 *
 * <p>Float32 paths: 2-D (and 1-D) Conv with one input channel per group runs {@link DepthwiseConv}; other 2-D/1-D
 * convolutions run {@link ConvGemm} (implicit GEMM over phase planes, weights prepacked at plan time when constant)
 * unless its layout would be mostly padding garbage, in which case, as for 3-D, im2col into bounded scratch +
 * {@link Sgemm} ({@link ConvKernels}); ConvTranspose as {@link Sgemm} + col2im. All split their work over the
 * session's intra-op threads, with results independent of the thread count. float16 and bfloat16 are widened to
 * float32 and take the same paths; double and more than 3 spatial dims take a scalar direct loop accumulating in
 * double. {@link FusedConvOps} plans its fused convolutions through {@link #planConv}.
 */
public final class ConvOps implements OpFamily {
    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};
    private static final Set<String> AUTO_PADS = Set.of("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID");

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("Conv", 1, TYPES), OpInfo.of("ConvTranspose", 1, TYPES));
    }

    /** The validated attributes of one node; lengths are checked against the input rank when it runs. */
    private record Attrs(String autoPad, long group, long[] kernelShape, long[] strides, long[] dilations, long[] pads,
                         long[] outputPadding, long[] outputShape) {}

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Conv" -> planConv(node, Act.NONE, false);
            case "ConvTranspose" -> planTranspose(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    /** An activation folded into a convolution's store: clamp to [lo, hi] when {@code clamp}. */
    record Act(boolean clamp, float lo, float hi) {
        static final Act NONE = new Act(false, 0f, 0f);

        ConvEpilogue epilogue() {
            return clamp ? ConvEpilogue.clamp(lo, hi) : ConvEpilogue.NONE;
        }
    }

    private static DType types(NodeSpec node) {
        DType t = node.requireType(0, TYPES);
        node.requireType(1, t);
        if (node.hasInput(2)) {
            node.requireType(2, t);
        }
        return t;
    }

    private static Attrs attrs(NodeSpec node) {
        Attributes at = node.attrs();
        String autoPad = at.getString("auto_pad", "NOTSET");
        if (!AUTO_PADS.contains(autoPad)) {
            throw node.unsupported("auto_pad '" + autoPad + "'");
        }
        long group = at.getInt("group", 1);
        if (group < 1) {
            throw node.unsupported("group " + group);
        }
        Attrs a = new Attrs(autoPad, group, at.getInts("kernel_shape", null), positive(node, at, "strides"),
                positive(node, at, "dilations"), at.getInts("pads", null), at.getInts("output_padding", null),
                at.getInts("output_shape", null));
        if (a.pads != null && Arrays.stream(a.pads).anyMatch(p -> p < 0)) {
            throw node.unsupported("negative pads " + Arrays.toString(a.pads));
        }
        return a;
    }

    /**
     * Plans a Conv followed by {@code act}, adding input 3 before the activation when {@code residual}. In float32,
     * with a residual of Y's shape, both happen as the convolution stores its output; otherwise as separate passes
     * (the residual then broadcasts as Add's inputs do).
     */
    static Planned planConv(NodeSpec node, Act act, boolean residual) {
        DType t = types(node);
        if (residual) {
            node.requireType(3, t);
        }
        Attrs a = attrs(node);
        Prepacked pre = t == DType.FLOAT ? prepack(node, a) : null;
        State state = new State(act);
        if (MatMulOps.isHalf(t)) {
            return Planned.of((ctx, in) -> {
                Tensor[] wide = new Tensor[in.length];
                for (int i = 0; i < in.length; i++) {
                    wide[i] = MatMulOps.widen(ctx, in[i]);
                }
                return new Tensor[] {MatMulOps.narrow(ctx, conv(ctx, node, a, wide, null, state, residual ? wide[3] : null), t)};
            }, t);
        }
        return Planned.of((ctx, in) -> Memo.outputs(state.outputs, conv(ctx, node, a, in, pre, state, residual ? in[3] : null)), t);
    }

    /**
     * Plans a Conv followed by {@code act}, then the 2-D MaxPool {@code pool} (a MaxPool spec with one output) on its
     * result: float32 convolutions that {@link ConvDirect} suits, with a pooling window {@link ConvDirectPool} fits,
     * pool their rows as they are computed ({@link ConvDirect#convPool}); others run the convolution, then the pooling.
     */
    static Planned planConvPool(NodeSpec node, Act act, NodeSpec pool) {
        DType t = types(node);
        Attrs a = attrs(node);
        Prepacked pre = t == DType.FLOAT ? prepack(node, a) : null;
        Kernel conv = planConv(node, act, false).kernel();
        Kernel pooling = new PoolOps().plan(pool).kernel();
        PoolGeometry.Attrs pa = PoolGeometry.Attrs.read(pool);
        State state = new State(act);
        Memo<Pooled> pooled = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor y = in[0].dtype() == DType.FLOAT ? convPool(ctx, node, a, in, pre, state, pool, pa, pooled) : null;
            return y != null ? Memo.outputs(state.outputs, y) : pooling.run(ctx, conv.run(ctx, in));
        }, t);
    }

    /** A fused pooling's output shape and window for one convolution output shape (window null: not fusable). */
    private record Pooled(Shape y, ConvDirectPool.Window window) {}

    /** Conv + act + MaxPool in one pass of {@link ConvDirect#convPool}; null when that kernel does not apply. */
    private static Tensor convPool(KernelContext ctx, NodeSpec node, Attrs a, Tensor[] in, Prepacked pre, State state, NodeSpec pool,
                                   PoolGeometry.Attrs pa, Memo<Pooled> memo) {
        Tensor x = in[0];
        Tensor w = in[1];
        Tensor b = in.length > 2 ? in[2] : null;
        Shape bs = b == null ? null : b.shape();
        Dims dims = state.dims.get(x.shape(), w.shape(), bs);
        if (dims == null) {
            dims = state.dims.put(x.shape(), w.shape(), bs, dims(node, a, x, w, b, state.layouts));
        }
        PhaseLayout lay = dims.lay;
        long c = dims.g.c();
        if (lay == null || dims.g.in().length != 2 || lay.efficiency() < 0.5 || c * lay.channelFloats() >= Integer.MAX_VALUE / 4
                || pre == null || pre.w().data() != w.data() || (pre.b() == null ? b != null : b == null || pre.b().data() != b.data())) {
            return null;
        }
        Pooled p = memo.get(dims.y);
        if (p == null) {
            PoolGeometry g = PoolGeometry.of(pool, pa, dims.y);
            boolean plain = g.rank == 2 && g.dilation[0] == 1 && g.dilation[1] == 1 && g.out[0] > 0 && g.out[1] > 0;
            p = memo.put(dims.y, new Pooled(g.outputShape(dims.y), plain ? new ConvDirectPool.Window(g.kernel[0], g.kernel[1],
                    g.stride[0], g.stride[1], g.padBegin[0], g.padBegin[1], g.out[0], g.out[1]) : null));
        }
        ConvGemm.Packed packed = pre.packed(lay);
        if (p.window == null || packed.mr() != ConvDirect.MR || !ConvDirect.suits(lay, (int) a.group, packed.kdim())
                || !ConvDirectPool.fits(lay, (int) a.group, (int) dims.g.m(), p.window) || dims.g.n() * dims.g.m() == 0) {
            return null;
        }
        Tensor y = ctx.allocate(DType.FLOAT, p.y);
        ConvDirect.convPool(ctx, lay, (int) dims.g.n(), (int) c, packed, dims.taps, x.data(), y.data(), state.bare, p.window);
        return y;
    }

    /**
     * One Conv node's per-run derivations, kept across replayed runs ({@link Memo}) so that a warm run allocates
     * nothing: the checked geometry per input shapes, the store's epilogue per residual buffer, the returned array;
     * plus the phase layouts by value ({@link LayoutCache}, for inputs whose shape objects change between runs).
     */
    private static final class State {
        final Act act;
        final ConvEpilogue bare;
        final LayoutCache layouts = new LayoutCache();
        final Memo<Dims> dims = new Memo<>();
        final Memo<ConvEpilogue> epilogues = new Memo<>();
        final Memo<Tensor[]> outputs = new Memo<>();

        State(Act act) {
            this.act = act;
            this.bare = act.epilogue();
        }

        /** The store's epilogue: the activation, adding {@code res} first when not null. */
        ConvEpilogue epilogue(MemorySegment res) {
            if (res == null) {
                return bare;
            }
            ConvEpilogue e = epilogues.get(res);
            return e != null ? e : epilogues.put(res, bare.withResidual(res));
        }
    }

    /**
     * A Conv's checked sizes for one set of input shapes: Y's shape, the geometry (and lifted to 3-D), the phase
     * layout of a 1-D/2-D float convolution (null otherwise) and the number of kernel taps.
     */
    private record Dims(Shape y, ConvKernels.Geometry g, ConvKernels.Geometry g3, PhaseLayout lay, int taps) {}

    private Planned planTranspose(NodeSpec node) {
        DType t = types(node);
        Attrs a = attrs(node);
        if (MatMulOps.isHalf(t)) {
            return Planned.of((ctx, in) -> {
                Tensor[] wide = new Tensor[in.length];
                for (int i = 0; i < in.length; i++) {
                    wide[i] = MatMulOps.widen(ctx, in[i]);
                }
                return new Tensor[] {MatMulOps.narrow(ctx, convTranspose(ctx, node, a, wide), t)};
            }, t);
        }
        return Planned.of((ctx, in) -> new Tensor[] {convTranspose(ctx, node, a, in)}, t);
    }

    /**
     * Constant float32 weights (and bias) packed for {@link ConvGemm} or {@link ConvSmallPlane}, with what they were
     * packed from. The panel width depends on the output plane: when X's spatial dims are known at plan time the
     * weights are packed then, otherwise by the first run (through the model's prepack cache, so once per model);
     * later runs of other plane sizes keep that packing (both kernels compute the same results).
     */
    private static final class Prepacked {
        private final NodeSpec node;
        private final Tensor w;
        private final Tensor b;
        private final long group;
        private volatile ConvGemm.Packed packed;

        Prepacked(NodeSpec node, Tensor w, Tensor b, long group, ConvGemm.Packed packed) {
            this.node = node;
            this.w = w;
            this.b = b;
            this.group = group;
            this.packed = packed;
        }

        Tensor w() {
            return w;
        }

        Tensor b() {
            return b;
        }

        /** The packed weights, packed now for {@code lay} if they were not at plan time. */
        ConvGemm.Packed packed(PhaseLayout lay) {
            ConvGemm.Packed p = packed;
            if (p == null) {
                int kdim = Math.toIntExact(w.size() / w.shape().dim(0));
                p = pack(node, w, b, group, panelWidth(lay, (int) group, kdim));
                packed = p;
            }
            return p;
        }

        static ConvGemm.Packed pack(NodeSpec node, Tensor w, Tensor b, long group, int mr) {
            long m = w.shape().dim(0);
            int kdim = Math.toIntExact(w.size() / m);
            String detail = "group=" + group + ",bias=" + (b == null ? "none" : b.data().address() + "/" + b.byteSize()) + ",mr=" + mr;
            return node.prepack().get("conv-gemm", w, detail,
                    arena -> ConvGemm.pack(w.data(), b == null ? null : b.data(), (int) group, (int) (m / group), kdim, mr));
        }
    }

    /**
     * The weight panel width for a layout: {@link ConvSmallPlane#MR} (the packing of both {@link ConvSmallPlane} and
     * {@link ConvDirect}) when either suits it, else {@link ConvGemm#MR}.
     */
    private static int panelWidth(PhaseLayout lay, int group, int kdim) {
        return ConvSmallPlane.suits(lay, kdim) || ConvDirect.suits(lay, group, kdim) ? ConvSmallPlane.MR : ConvGemm.MR;
    }

    /** Packs constant 1-D/2-D non-depthwise weights once per model; null when the weights are not constant. */
    private static Prepacked prepack(NodeSpec node, Attrs a) {
        Tensor w = node.constant(1);
        Tensor b = node.hasInput(2) ? node.constant(2) : null;
        if (w == null || (node.hasInput(2) && b == null) || w.shape().rank() < 3 || w.shape().rank() > 4) {
            return null;
        }
        long m = w.shape().dim(0);
        long cg = w.shape().dim(1);
        if (cg == 1 || m % a.group != 0 || (b != null && !b.shape().equals(Shape.of(m))) || w.size() > Integer.MAX_VALUE / 2) {
            return null;
        }
        int kdim = Math.toIntExact(w.size() / m);
        Boolean small = smallPlane(node, a, w.shape(), kdim);
        ConvGemm.Packed p = small == null ? null : Prepacked.pack(node, w, b, a.group, small ? ConvSmallPlane.MR : ConvGemm.MR);
        return new Prepacked(node, w, b, a.group, p);
    }

    /**
     * Whether X's plan-time shape gives a layout that {@link ConvSmallPlane} suits better, so that the weights are
     * prepacked for it; null when X's spatial dims are unknown (the first run decides), false for 1-D convolutions or
     * when anything about the shape is off (the run then reports the error).
     */
    private static Boolean smallPlane(NodeSpec node, Attrs a, Shape w, int kdim) {
        Shape xs = node.inputShape(0);
        if (xs == null || xs.rank() == 4 && (xs.dim(2) == Shape.UNKNOWN || xs.dim(3) == Shape.UNKNOWN)) {
            return null;
        }
        if (xs.rank() != 4 || w.rank() != 4 || xs.dim(2) < 1 || xs.dim(3) < 1) {
            return false;
        }
        try {
            long[] k = kernel(node, a, w, 2);
            long[] s = perDim(node, a.strides, 2, 1, "strides");
            long[] d = perDim(node, a.dilations, 2, 1, "dilations");
            long[] pads = a.pads == null ? new long[4] : a.pads;
            long[] inDims = {xs.dim(2), xs.dim(3)};
            long[][] geo = outputAndPads(node, a.autoPad, inDims, k, s, d, pads, "X " + xs);
            ConvKernels.Geometry g = new ConvKernels.Geometry(1, w.dim(1) * a.group, w.dim(0), a.group, inDims, k, geo[0], s, d, geo[1]);
            PhaseLayout lay = layout(g.to3d());
            return lay != null && lay.efficiency() >= 0.5 && panelWidth(lay, (int) a.group, kdim) == ConvSmallPlane.MR;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static long[] positive(NodeSpec node, Attributes at, String name) {
        long[] v = at.getInts(name, null);
        if (v != null && Arrays.stream(v).anyMatch(x -> x < 1)) {
            throw node.unsupported(name + " " + Arrays.toString(v));
        }
        return v;
    }

    /** An attribute list of one entry per spatial dim, or {@code def} repeated when absent. */
    private static long[] perDim(NodeSpec node, long[] v, int nd, long def, String name) {
        if (v == null) {
            long[] d = new long[nd];
            Arrays.fill(d, def);
            return d;
        }
        if (v.length != nd) {
            throw node.error(name + " " + Arrays.toString(v) + " has " + v.length + " entries for " + nd + " spatial dims");
        }
        return v;
    }

    /** Kernel spatial dims: W's, checked against kernel_shape when given. */
    private static long[] kernel(NodeSpec node, Attrs a, Shape w, int nd) {
        long[] k = Arrays.copyOfRange(w.dims(), 2, w.rank());
        if (a.kernelShape != null && !Arrays.equals(a.kernelShape, k)) {
            throw node.error("kernel_shape " + Arrays.toString(a.kernelShape) + " differs from W " + w);
        }
        for (long kd : k) {
            if (kd < 1) {
                throw node.error("W " + w + " has an empty kernel (every spatial dim must be at least 1)");
            }
        }
        return perDim(node, k, nd, 1, "kernel");
    }

    private static void checkInputs(NodeSpec node, Tensor x, Tensor w) {
        if (x.shape().rank() < 3 || w.shape().rank() != x.shape().rank()) {
            throw node.error("X " + x.shape() + " and W " + w.shape() + " must have the same rank, at least 3");
        }
    }

    private static void checkBias(NodeSpec node, Tensor b, long m) {
        if (b != null && !b.shape().equals(Shape.of(m))) {
            throw node.error("bias B " + b.shape() + " must be [" + m + "]");
        }
    }

    // ---------------------------------------------------------------- Conv

    private static Tensor conv(KernelContext ctx, NodeSpec node, Attrs a, Tensor[] in, Prepacked pre, State state, Tensor res) {
        Tensor x = in[0];
        Tensor w = in[1];
        Tensor b = in.length > 2 ? in[2] : null;
        Shape bs = b == null ? null : b.shape();
        Dims dims = state.dims.get(x.shape(), w.shape(), bs);
        if (dims == null) {
            dims = state.dims.put(x.shape(), w.shape(), bs, dims(node, a, x, w, b, state.layouts));
        }
        Tensor y = ctx.allocate(x.dtype(), dims.y);
        if (y.size() == 0) {
            return y;
        }
        int nd = dims.g.in().length;
        boolean fused = x.dtype() == DType.FLOAT && nd <= 3 && (res == null || res.shape().equals(y.shape()));
        if (!fused) {
            if (x.dtype() == DType.FLOAT && nd <= 3) {
                convFloat(ctx, a, dims, x, w, b, y, pre, ConvEpilogue.NONE);
            } else {
                convScalar(dims.g, x, w, b, y);
            }
            return unfusedTail(ctx, node, y, state.act, res);
        }
        convFloat(ctx, a, dims, x, w, b, y, pre, state.epilogue(res == null ? null : res.data()));
        return y;
    }

    /** Checks X, W and B against the attributes and derives the {@link Dims} of a Conv of them. */
    private static Dims dims(NodeSpec node, Attrs a, Tensor x, Tensor w, Tensor b, LayoutCache layouts) {
        checkInputs(node, x, w);
        int nd = x.shape().rank() - 2;
        long n = x.shape().dim(0);
        long c = x.shape().dim(1);
        long m = w.shape().dim(0);
        long cg = w.shape().dim(1);
        if (c != cg * a.group || m % a.group != 0) {
            throw node.error("X " + x.shape() + " and W " + w.shape() + " do not fit group " + a.group
                    + " (need C = W[1] * group and M divisible by group)");
        }
        checkBias(node, b, m);
        long[] k = kernel(node, a, w.shape(), nd);
        long[] s = perDim(node, a.strides, nd, 1, "strides");
        long[] d = perDim(node, a.dilations, nd, 1, "dilations");
        long[] pads = a.pads == null ? new long[2 * nd] : a.pads;
        if (pads.length != 2 * nd) {
            throw node.error("pads " + Arrays.toString(pads) + " must have " + 2 * nd + " entries");
        }
        long[] inDims = Arrays.copyOfRange(x.shape().dims(), 2, nd + 2);
        long[][] geo = outputAndPads(node, a.autoPad, inDims, k, s, d, pads, "X " + x.shape());
        long[] out = geo[0];
        long[] pb = geo[1];
        long[] yDims = new long[nd + 2];
        yDims[0] = n;
        yDims[1] = m;
        System.arraycopy(out, 0, yDims, 2, nd);
        ConvKernels.Geometry g = new ConvKernels.Geometry(n, c, m, a.group, inDims, k, out, s, d, pb);
        ConvKernels.Geometry g3 = nd <= 3 ? g.to3d() : null;
        PhaseLayout lay = nd <= 2 && x.dtype() == DType.FLOAT ? layouts.get(g3) : null;
        return new Dims(Shape.of(yDims), g, g3, lay, (int) Shape.of(k).size());
    }

    /** Y = act(Y + res) as Add (broadcasting) and Clip would compute them. */
    private static Tensor unfusedTail(KernelContext ctx, NodeSpec node, Tensor y, Act act, Tensor res) {
        DType t = y.dtype();
        if (res != null) {
            y = Elementwise.binary(ctx, node, y, res, t, t == DType.FLOAT ? Elementwise.f32(FloatLoops.ADD) : Elementwise.generic(FloatLoops.ADD));
        }
        if (act.clamp()) {
            y = Elementwise.unary(t, FloatLoops.CLIP, act.lo(), act.hi(), null).run(ctx, new Tensor[] {y})[0];
        }
        return y;
    }

    /** The float32 paths (see the class comment); {@code y} is allocated, non-empty. */
    private static void convFloat(KernelContext ctx, Attrs a, Dims dims, Tensor x, Tensor w, Tensor b, Tensor y, Prepacked pre,
                                  ConvEpilogue ep) {
        ConvKernels.Geometry g = dims.g;
        long n = g.n();
        long c = g.c();
        long m = g.m();
        long cg = c / a.group;
        PhaseLayout lay = dims.lay;
        MemorySegment bias = b == null ? null : b.data();
        if (lay != null && cg == 1) {
            DepthwiseConv.conv(ctx, lay, (int) n, (int) a.group, (int) (m / a.group), dims.taps, x.data(), w.data(), bias,
                    y.data(), ep);
        } else if (lay != null && lay.efficiency() >= 0.5 && (long) c * lay.channelFloats() < Integer.MAX_VALUE / 4) {
            ConvGemm.Packed p = pre != null && pre.w().data() == w.data() && (pre.b() == null ? b == null : b != null && pre.b().data() == b.data())
                    ? pre.packed(lay)
                    : ConvGemm.pack(w.data(), bias, (int) a.group, (int) (m / a.group), Math.toIntExact(w.size() / m),
                            panelWidth(lay, (int) a.group, Math.toIntExact(w.size() / m)));
            if (p.mr() == ConvDirect.MR && ConvDirect.suits(lay, (int) a.group, p.kdim())) {
                ConvDirect.conv(ctx, lay, (int) n, (int) c, p, dims.taps, x.data(), y.data(), ep);
            } else {
                ConvGemm.conv(ctx, lay, (int) n, (int) c, p, dims.taps, x.data(), y.data(), ep);
            }
        } else {
            ConvKernels.conv(ctx, scratch(ctx), dims.g3, x.data(), w.data(), bias, y.data(), ep);
        }
    }

    /**
     * The phase layout of a node's last input shape, so that a layout and the tables derived from it are built once
     * per shape, not per run (benign races: a lost update only rebuilds).
     */
    private static final class LayoutCache {
        private record Entry(ConvKernels.Geometry g, PhaseLayout layout) {}

        private volatile Entry last;

        PhaseLayout get(ConvKernels.Geometry g) {
            Entry e = last;
            if (e != null && same(e.g, g)) {
                return e.layout;
            }
            PhaseLayout lay = layout(g);
            last = new Entry(g, lay);
            return lay;
        }

        private static boolean same(ConvKernels.Geometry a, ConvKernels.Geometry b) {
            return Arrays.equals(a.in(), b.in()) && Arrays.equals(a.out(), b.out()) && Arrays.equals(a.k(), b.k())
                    && Arrays.equals(a.s(), b.s()) && Arrays.equals(a.d(), b.d()) && Arrays.equals(a.pb(), b.pb());
        }
    }

    /** The phase layout of a 2-D (or 1-D) geometry lifted to 3-D, or null when its sizes do not fit int indexing. */
    private static PhaseLayout layout(ConvKernels.Geometry g) {
        long[] in = g.in();
        long[] out = g.out();
        if (in[0] != 1 || out[0] != 1 || g.k()[0] != 1 || in[1] * in[2] > 1 << 26 || out[1] * out[2] > 1 << 26
                || (g.k()[1] - 1) * g.d()[1] > 1 << 20 || (g.k()[2] - 1) * g.d()[2] > 1 << 20 || g.s()[1] > 1 << 20 || g.s()[2] > 1 << 20
                || g.k()[1] * g.k()[2] > 1 << 20 || g.pb()[1] > 1 << 20 || g.pb()[2] > 1 << 20) {
            return null;
        }
        try {
            return new PhaseLayout((int) in[1], (int) in[2], (int) out[1], (int) out[2], (int) g.k()[1], (int) g.k()[2],
                    (int) g.s()[1], (int) g.s()[2], (int) g.d()[1], (int) g.d()[2], (int) g.pb()[1], (int) g.pb()[2]);
        } catch (ArithmeticException e) {
            return null;
        }
    }

    /** The direct N-D loop for any float dtype, accumulating in double. */
    private static void convScalar(ConvKernels.Geometry g, Tensor x, Tensor w, Tensor b, Tensor y) {
        int nd = g.in().length;
        long cg = g.c() / g.group();
        long mg = g.m() / g.group();
        long inSize = Shape.of(g.in()).size();
        long outSize = Shape.of(g.out()).size();
        long kSize = Shape.of(g.k()).size();
        long[] o = new long[nd];
        long[] kk = new long[nd];
        for (long n = 0; n < g.n(); n++) {
            for (long m = 0; m < g.m(); m++) {
                long grp = m / mg;
                for (long op = 0; op < outSize; op++) {
                    unravel(op, g.out(), o);
                    double acc = b == null ? 0 : b.getDouble(m);
                    for (long c = 0; c < cg; c++) {
                        long xBase = (n * g.c() + grp * cg + c) * inSize;
                        long wBase = (m * cg + c) * kSize;
                        for (long kp = 0; kp < kSize; kp++) {
                            unravel(kp, g.k(), kk);
                            long xi = 0;
                            boolean inside = true;
                            for (int i = 0; i < nd && inside; i++) {
                                long p = o[i] * g.s()[i] - g.pb()[i] + kk[i] * g.d()[i];
                                inside = p >= 0 && p < g.in()[i];
                                xi = xi * g.in()[i] + p;
                            }
                            if (inside) {
                                acc += x.getDouble(xBase + xi) * w.getDouble(wBase + kp);
                            }
                        }
                    }
                    y.setDouble((n * g.m() + m) * outSize + op, acc);
                }
            }
        }
    }

    /** Float scratch from the session's workspace. */
    private static LongFunction<MemorySegment> scratch(KernelContext ctx) {
        return floats -> ctx.allocate(DType.FLOAT, Shape.of(floats)).data();
    }

    /** Row-major multi-index of flat index {@code i} in {@code dims}. */
    private static void unravel(long i, long[] dims, long[] idx) {
        for (int d = dims.length - 1; d >= 0; d--) {
            idx[d] = i % dims[d];
            i /= dims[d];
        }
    }

    // ---------------------------------------------------------------- ConvTranspose

    private static Tensor convTranspose(KernelContext ctx, NodeSpec node, Attrs a, Tensor[] in) {
        Tensor x = in[0];
        Tensor w = in[1];
        Tensor b = in.length > 2 ? in[2] : null;
        checkInputs(node, x, w);
        int nd = x.shape().rank() - 2;
        long n = x.shape().dim(0);
        long c = x.shape().dim(1);
        if (w.shape().dim(0) != c || c % a.group != 0) {
            throw node.error("X " + x.shape() + " and W " + w.shape() + " do not fit group " + a.group
                    + " (need W[0] = C, divisible by group)");
        }
        long m = w.shape().dim(1) * a.group;
        checkBias(node, b, m);
        long[] k = kernel(node, a, w.shape(), nd);
        long[] s = perDim(node, a.strides, nd, 1, "strides");
        long[] d = perDim(node, a.dilations, nd, 1, "dilations");
        long[] op = perDim(node, a.outputPadding, nd, 0, "output_padding");
        long[] pads = a.pads == null ? new long[2 * nd] : a.pads;
        if (pads.length != 2 * nd) {
            throw node.error("pads " + Arrays.toString(pads) + " must have " + 2 * nd + " entries");
        }
        long[] want = a.outputShape == null ? null
                : a.outputShape.length == nd + 2 ? Arrays.copyOfRange(a.outputShape, 2, nd + 2) : perDim(node, a.outputShape, nd, 0, "output_shape");
        long[] inDims = Arrays.copyOfRange(x.shape().dims(), 2, nd + 2);
        long[] out = new long[nd];
        long[] pb = new long[nd];
        boolean same = a.autoPad.startsWith("SAME");
        for (int i = 0; i < nd; i++) {
            long full = s[i] * (inDims[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1;
            if (want != null || same) {
                out[i] = want != null ? want[i] : inDims[i] * s[i];
                long total = full - out[i];
                pb[i] = a.autoPad.equals("SAME_UPPER") ? Math.floorDiv(total, 2) : total - Math.floorDiv(total, 2);
            } else if (a.autoPad.equals("VALID")) {
                out[i] = full;
            } else {
                pb[i] = pads[i];
                out[i] = full - pads[i] - pads[i + nd];
            }
            if (out[i] < 0) {
                throw node.error("negative output size " + out[i] + " for X " + x.shape() + ", W " + w.shape()
                        + ", pads " + Arrays.toString(pads));
            }
        }
        long[] yDims = new long[nd + 2];
        yDims[0] = n;
        yDims[1] = m;
        System.arraycopy(out, 0, yDims, 2, nd);
        Tensor y = ctx.allocate(x.dtype(), Shape.of(yDims));
        if (y.size() == 0) {
            return y;
        }
        ConvKernels.Geometry g = new ConvKernels.Geometry(n, c, m, a.group, inDims, k, out, s, d, pb);
        if (x.dtype() == DType.FLOAT && nd <= 3) {
            ConvKernels.convTranspose(ctx, scratch(ctx), g.to3d(), x.data(), w.data(), b == null ? null : b.data(), y.data());
        } else {
            convTransposeScalar(g, x, w, b, y);
        }
        return y;
    }

    /** The direct N-D scatter loop for any float dtype, accumulating in double. */
    private static void convTransposeScalar(ConvKernels.Geometry g, Tensor x, Tensor w, Tensor b, Tensor y) {
        int nd = g.in().length;
        long cg = g.c() / g.group();
        long mg = g.m() / g.group();
        long inSize = Shape.of(g.in()).size();
        long outSize = Shape.of(g.out()).size();
        long kSize = Shape.of(g.k()).size();
        double[] acc = new double[Math.toIntExact(outSize)];
        long[] ip = new long[nd];
        long[] kk = new long[nd];
        for (long n = 0; n < g.n(); n++) {
            for (long m = 0; m < g.m(); m++) {
                long grp = m / mg;
                Arrays.fill(acc, b == null ? 0 : b.getDouble(m));
                for (long c = grp * cg; c < (grp + 1) * cg; c++) {
                    long xBase = (n * g.c() + c) * inSize;
                    long wBase = (c * mg + m % mg) * kSize;
                    for (long i = 0; i < inSize; i++) {
                        unravel(i, g.in(), ip);
                        double xv = x.getDouble(xBase + i);
                        for (long kp = 0; kp < kSize; kp++) {
                            unravel(kp, g.k(), kk);
                            long yi = 0;
                            boolean inside = true;
                            for (int q = 0; q < nd && inside; q++) {
                                long p = ip[q] * g.s()[q] - g.pb()[q] + kk[q] * g.d()[q];
                                inside = p >= 0 && p < g.out()[q];
                                yi = yi * g.out()[q] + p;
                            }
                            if (inside) {
                                acc[(int) yi] += xv * w.getDouble(wBase + kp);
                            }
                        }
                    }
                }
                long yBase = (n * g.m() + m) * outSize;
                for (int i = 0; i < acc.length; i++) {
                    y.setDouble(yBase + i, acc[i]);
                }
            }
        }
    }

    /**
     * Output size and leading pad per spatial axis under ONNX's rules (shared with the quantized convs):
     * SAME_UPPER / SAME_LOWER give {@code out = ceil(in / s)} with the total padding split (the extra one at the end
     * or the start), VALID no padding, NOTSET the explicit {@code pads} ([begins..., ends...]); span = (k - 1) * d + 1.
     * Returns {out, padBegin}; refuses an input too small for the kernel, naming {@code what}.
     */
    static long[][] outputAndPads(NodeSpec node, String autoPad, long[] in, long[] k, long[] s, long[] d, long[] pads, String what) {
        int nd = in.length;
        long[] out = new long[nd];
        long[] pb = new long[nd];
        for (int i = 0; i < nd; i++) {
            long span = (k[i] - 1) * d[i] + 1;
            switch (autoPad) {
                case "SAME_UPPER", "SAME_LOWER" -> {
                    out[i] = Math.ceilDiv(in[i], s[i]);
                    long total = Math.max(0, (out[i] - 1) * s[i] + span - in[i]);
                    pb[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                }
                case "VALID" -> out[i] = Math.floorDiv(in[i] - span, s[i]) + 1;
                default -> {
                    pb[i] = pads[i];
                    out[i] = Math.floorDiv(in[i] + pads[i] + pads[i + nd] - span, s[i]) + 1;
                }
            }
            if (out[i] < 0 || (out[i] == 0 && in[i] > 0)) {
                throw node.error(what + " is too small for kernel " + Arrays.toString(k) + " (dilations "
                        + Arrays.toString(d) + ", pads " + Arrays.toString(pads) + ")");
            }
        }
        return new long[][] {out, pb};
    }
}
