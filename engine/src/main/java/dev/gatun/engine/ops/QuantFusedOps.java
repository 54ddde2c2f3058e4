package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.Igemm;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Gatun's fused integer matrix product, in the {@value FusedOps#DOMAIN} domain: what
 * {@link dev.gatun.engine.graph.passes.QuantMatMulFusion} puts in place of the MatMulInteger chains that dynamic
 * quantization writes (ONNX Runtime's {@code quantize_dynamic}: MatMulInteger, Cast to float, Mul by the product of
 * the scales, Add of the bias). Related specs: https://onnx.ai/onnx/operators/onnx__MatMulInteger.html,
 * https://onnx.ai/onnx/operators/onnx__DynamicQuantizeLinear.html.
 *
 * <p>{@code QuantMatMul(A, a_scale?, a_zero_point?, B, b_zero_point?, b_scale, bias?, residual?)}, attribute
 * {@code activation} ("", "Relu", "Gelu", "GeluTanh"):
 * <pre>
 *   Y[..., i, j] = act((float) sum_k (A[..., i, k] - azp) (B[k, j] - bzp_j) * (a_scale * b_scale_j) + bias_j) + residual
 * </pre>
 * A [..., M, K] uint8/int8 (its batch dims fold into M), a_scale and a_zero_point scalars (run-time values: the
 * outputs of a DynamicQuantizeLinear; an absent a_scale is 1, for static chains whose b_scale already holds
 * a_scale * b_scale), B [K, N] uint8/int8 constant, packed once per model for the session's
 * integer kernel, b_zero_point and b_scale scalars or [N], bias [N] float, residual of Y's shape. The product,
 * zero-point correction, scaling and bias happen in the integer kernel's epilogue ({@link Igemm}); the
 * activation and residual right after, on each block of rows while it is in cache (a residual that only
 * broadcasts to Y's shape is added afterwards by ONNX Add). The float arithmetic is the
 * unfused graph's: {@code (float) x * (a_scale * b_scale_j)} then {@code + bias_j}, rounded separately.
 */
public final class QuantFusedOps implements OpFamily {
    @Override
    public List<OpInfo> ops() {
        return List.of(new OpInfo(FusedOps.DOMAIN, "QuantMatMul", FusedOps.OPSET, List.of(DType.UINT8, DType.INT8)),
                new OpInfo(FusedOps.DOMAIN, "DynamicQuantizeRows", FusedOps.OPSET, List.of(DType.FLOAT)));
    }

    @Override
    public Planned plan(NodeSpec node) {
        if (node.opType().equals("DynamicQuantizeRows")) {
            return planRows(node);
        }
        if (!node.opType().equals("QuantMatMul")) {
            throw node.unsupported("operator " + node.opType());
        }
        DType at = node.requireType(0, QuantGemmOps.BYTES);
        if (node.hasInput(1)) {
            node.requireType(1, DType.FLOAT);
        }
        if (node.hasInput(2) && node.inputType(2) != DType.INT32) {
            node.requireType(2, at);
        }
        DType bt = node.requireType(3, QuantGemmOps.BYTES);
        if (node.hasInput(4)) {
            node.requireType(4, bt);
        }
        node.requireType(5, DType.FLOAT);
        for (int i = 6; i < 8; i++) {
            if (node.hasInput(i)) {
                node.requireType(i, DType.FLOAT);
            }
        }
        String actName = node.attrs().getString("activation", "");
        Epilogue.Activation act = switch (actName) {
            case "" -> Epilogue.Activation.NONE;
            case "Relu" -> Epilogue.Activation.RELU;
            case "Gelu" -> Epilogue.Activation.GELU;
            case "GeluTanh" -> Epilogue.Activation.GELU_TANH;
            default -> throw node.unsupported("activation '" + actName + "' (supported: \"\", Relu, Gelu, GeluTanh)");
        };
        Tensor b = node.constant(3);
        if (b == null || b.shape().rank() != 2) {
            throw node.unsupported("QuantMatMul with a B that is not a 2-D constant");
        }
        int k = MatMulOps.toInt(node, b.shape().dim(0));
        int n = MatMulOps.toInt(node, b.shape().dim(1));
        Tensor bz = node.hasInput(4) ? node.constant(4) : null;
        if (node.hasInput(4) && (bz == null || (bz.size() != 1 && bz.size() != n))) {
            throw node.unsupported("b_zero_point that is not a constant scalar or [" + n + "]");
        }
        Igemm.Kernel kernel = Igemm.defaultKernel();
        int[] zb = QuantGemmOps.zeroPoints(bz);
        Igemm.Weights w = node.prepack().get("igemm", b, kernel.name() + ":" + Arrays.toString(zb),
                arena -> Igemm.pack(kernel, arena, b.data(), 0, n, 1, b.dtype() == DType.UINT8, k, n, zb));
        Kernel add = node.hasInput(7)
                ? OpRegistry.plan(NodeSpec.of("Add", 14, dev.gatun.engine.graph.Attributes.empty(), 1, DType.FLOAT, DType.FLOAT)).kernel()
                : null;
        RunMemo memo = new RunMemo(n, Epilogue.of(act));
        return Planned.of((ctx, in) -> {
            Tensor res = QuantGemmOps.input(in, 7);
            Tensor y = run(ctx, node, in, w, act, memo);
            if (res != null && !res.shape().equals(y.shape())) {
                return add.run(ctx, new Tensor[] {y, res});
            }
            return Memo.outputs(memo.outputs, y);
        }, DType.FLOAT);
    }

    /**
     * What a QuantMatMul kernel derives per run, kept across replayed runs ({@link Memo}): Y's shape per A shape, the
     * epilogue per residual buffer, the returned array; {@code columns} is [N] and {@code act} the bare activation.
     */
    private static final class RunMemo {
        final Shape columns;
        final Epilogue act;
        final Memo<Shape> shape = new Memo<>();
        final Memo<Epilogue> post = new Memo<>();
        final Memo<Tensor[]> outputs = new Memo<>();

        RunMemo(int n, Epilogue act) {
            this.columns = Shape.of(n);
            this.act = act;
        }
    }

    /**
     * {@code DynamicQuantizeRows(x) -> (y, y_scale, y_zero_point)}, attribute {@code min_scale} (float > 0): each row
     * r of x [..., K] float32 quantized to uint8 by DynamicQuantizeLinear's rule with a floor on the scale, in the
     * float operations of the chain {@link dev.gatun.engine.graph.passes.DynamicQuantizeRowsFusion} replaces:
     * <pre>
     *   hi = max(max_k x[r, k], 0)   lo = min(min_k x[r, k], 0)
     *   s[r] = max((hi - lo) / 255, min_scale)          zf[r] = rint(-lo / s[r])
     *   y[r, k] = clamp(rint(x[r, k] / s[r]) + zf[r], 0, 255)
     * </pre>
     * y_scale and y_zero_point (float32) have x's shape with a last dim of 1. Rows run in parallel.
     */
    private static Planned planRows(NodeSpec node) {
        node.requireType(0, DType.FLOAT);
        float minScale = node.attrs().getFloat("min_scale", Float.MIN_NORMAL);
        if (!(minScale > 0)) {
            throw node.unsupported("min_scale " + minScale + " (must be > 0)");
        }
        Memo<Shape> scaleShapes = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        RowTasks region = new RowTasks();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape xs = x.shape();
            if (xs.rank() < 1) {
                throw node.error("x must have rank >= 1, got " + xs);
            }
            long k = xs.dim(xs.rank() - 1);
            long rows = k == 0 ? 0 : x.size() / k;
            Shape ss = scaleShapes.get(xs);
            if (ss == null) {
                long[] sd = xs.dims();
                sd[sd.length - 1] = 1;
                ss = scaleShapes.put(xs, Shape.of(sd));
            }
            Tensor y = ctx.allocate(DType.UINT8, xs);
            Tensor scale = ctx.allocate(DType.FLOAT, ss);
            Tensor zero = ctx.allocate(DType.FLOAT, ss);
            if (k == 0) {
                for (long r = 0; r < scale.size(); r++) {
                    scale.data().setAtIndex(Tensor.F32, r, minScale);
                    zero.data().setAtIndex(Tensor.F32, r, 0f);
                }
            } else {
                int tasks = (int) Math.min(rows, Math.max(1, 4L * ctx.threads()));
                region.set(x.data(), y.data(), rows, k, tasks, minScale, scale.data(), zero.data());
                try {
                    ctx.parallelFor(tasks, region);
                } finally {
                    region.set(null, null, 0, 0, 0, 0f, null, null);
                }
            }
            Tensor[] out = outputs.get(y, scale, zero);
            return out != null ? out : outputs.put(y, scale, zero, new Tensor[] {y, scale, zero});
        }, DType.UINT8, DType.FLOAT, DType.FLOAT);
    }

    /**
     * One DynamicQuantizeRows node's region: task t quantizes rows [rows * t / tasks, rows * (t + 1) / tasks). A
     * reused object (fields set before each region and cleared after) instead of a capturing lambda.
     */
    private static final class RowTasks implements java.util.function.IntConsumer {
        private MemorySegment x, y, scales, zeros;
        private long rows, k;
        private int tasks;
        private float minScale;

        void set(MemorySegment x, MemorySegment y, long rows, long k, int tasks, float minScale, MemorySegment scales,
                 MemorySegment zeros) {
            this.x = x;
            this.y = y;
            this.rows = rows;
            this.k = k;
            this.tasks = tasks;
            this.minScale = minScale;
            this.scales = scales;
            this.zeros = zeros;
        }

        @Override
        public void accept(int t) {
            long r1 = rows * (t + 1) / tasks;
            for (long r = rows * t / tasks; r < r1; r++) {
                quantizeRow(x, y, r, k, minScale, scales, zeros);
            }
        }
    }

    /** Row r of {@link #planRows}. */
    static void quantizeRow(MemorySegment x, MemorySegment y, long r, long k, float minScale, MemorySegment scales, MemorySegment zeros) {
        long range = QuantOps.minMax(x, r * k, k);
        float hi = Math.max(QuantOps.hi(range), 0f);
        float lo = Math.min(QuantOps.lo(range), 0f);
        float s = Math.max((hi - lo) / 255f, minScale);
        float zf = (float) Math.rint(-lo / s);
        scales.setAtIndex(Tensor.F32, r, s);
        zeros.setAtIndex(Tensor.F32, r, zf);
        int zp = (int) zf;
        long e = k >= VL ? QuantOps.quantizeFloatBytes(x, r * k, y, r * k, k, s, zp, 0, 255) : 0;
        for (; e < k; e++) {
            float q = x.getAtIndex(Tensor.F32, r * k + e) / s;
            double v = Math.rint(q) + zp;
            y.set(java.lang.foreign.ValueLayout.JAVA_BYTE, r * k + e, (byte) (int) Math.max(0, Math.min(255, v)));
        }
    }

    private static final int VL = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();

    /** The product with its epilogue; a residual that does not have Y's shape is left to the caller (broadcast Add). */
    private static Tensor run(KernelContext ctx, NodeSpec node, Tensor[] in, Igemm.Weights w, Epilogue.Activation act, RunMemo memo) {
        Tensor a = in[0];
        Tensor aScale = QuantGemmOps.input(in, 1);
        Tensor aZp = QuantGemmOps.input(in, 2);
        Tensor bScale = in[5];
        Tensor bias = QuantGemmOps.input(in, 6);
        Tensor res = QuantGemmOps.input(in, 7);
        int k = w.k();
        int n = w.n();
        Shape as = a.shape();
        if (as.rank() < 1 || as.dim(as.rank() - 1) != k) {
            throw node.error("inner dims differ: A " + as + " x B [" + k + "," + n + "]");
        }
        int rows = MatMulOps.toInt(node, as.sizeOf(0, as.rank() - 1));
        boolean rowScales = aScale != null && aScale.size() != 1;
        boolean rowZps = aZp != null && aZp.dtype() == DType.INT32;
        if ((rowScales && aScale.size() != rows) || (aZp != null && (rowZps ? aZp.size() != rows : aZp.size() != 1))) {
            throw node.error("a_scale " + aScale.shape() + " and a_zero_point " + (aZp == null ? "" : aZp.shape() + " ")
                    + "must be scalars, or hold one value per row of A " + as + " (" + rows + ")");
        }
        if (bScale.size() != 1 && bScale.size() != n) {
            throw node.error("b_scale " + bScale.shape() + " must be a scalar or [" + n + "]");
        }
        if (bias != null && bias.size() != n) {
            throw node.error("bias " + bias.shape() + " must be [" + n + "]");
        }
        Shape ys = memo.shape.get(as);
        if (ys == null) {
            long[] dims = as.dims();
            dims[dims.length - 1] = n;
            ys = memo.shape.put(as, Shape.of(dims));
        }
        Tensor y = ctx.allocate(DType.FLOAT, ys);
        if (res != null && !res.shape().equals(ys)) {
            res = null;
        }
        if (rows == 0 || n == 0) {
            return y;
        }
        MemorySegment colScale = bScale.data();
        if (bScale.size() == 1) {
            colScale = ctx.allocate(DType.FLOAT, memo.columns).data();
            float s = bScale.getFloat(0);
            for (int j = 0; j < n; j++) {
                colScale.setAtIndex(Tensor.F32, j, s);
            }
        }
        Igemm.Mode mode = act == Epilogue.Activation.RELU && res == null ? Igemm.Mode.FLOAT_RELU : Igemm.Mode.FLOAT;
        Epilogue post = null;
        if (mode != Igemm.Mode.FLOAT_RELU) {
            MemorySegment resData = res == null ? null : res.data();
            post = memo.post.get(resData);
            if (post == null) {
                post = memo.post.put(resData, resData == null ? memo.act : memo.act.withResidual(resData, 0, n));
            }
        }
        int za = aZp == null || rowZps ? 0 : (int) aZp.getAsLong(0);
        Igemm.gemm(ctx, rows, a.data(), 0, k, a.dtype() == DType.INT8, za, rowZps ? aZp.data() : null, w, mode, y.data(), 0, n,
                aScale == null || rowScales ? 1f : aScale.getFloat(0), colScale, bias == null ? null : bias.data(), post,
                rowScales ? aScale.data() : null);
        return y;
    }
}
