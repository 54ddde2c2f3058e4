package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.Igemm;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongFunction;

/**
 * Integer matrix products on {@link Igemm}: MatMulInteger and QLinearMatMul.
 *
 * <ul>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__MatMulInteger.html">MatMulInteger</a> (10):
 *       {@code Y[..., M, N] = sum_k (A[..., M, K] - a_zero_point) * (B[..., K, N] - b_zero_point)} in int32, numpy
 *       matmul shapes (1-D operands promoted, batch dims broadcast). A and B uint8 or int8; a_zero_point scalar or
 *       per row ([M], or [..., M, 1]), b_zero_point scalar or per column ([N], or [..., 1, N]).</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__QLinearMatMul.html">QLinearMatMul</a> (10, 21):
 *       the same integer product C, then {@code y = saturate(rint(C * (a_scale * b_scale / y_scale)) + y_zero_point)}
 *       as the ONNX reference computes it: the multiplier in the scales' type (float32, or float16 / bfloat16 from
 *       opset 21), the product with C in float64. a_scale per tensor, b_scale per tensor or per column; y typed
 *       like y_zero_point.</li>
 * </ul>
 *
 * <p>When B (2-D) and its zero point are constants, B is packed once per model for the session's integer kernel
 * ({@link NodeSpec#prepack()}); otherwise each run packs it into workspace scratch. A 2-D B folds A's batch dims
 * into M: one GEMM of [batch*M, K] x [K, N]. Layout: row-major everywhere.
 */
public final class QuantGemmOps implements OpFamily {
    static final DType[] BYTES = {DType.UINT8, DType.INT8};
    private static final DType[] SCALES = {DType.FLOAT, DType.FLOAT16, DType.BFLOAT16};

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("MatMulInteger", 10, BYTES), OpInfo.of("QLinearMatMul", 10, BYTES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "MatMulInteger" -> planMatMulInteger(node);
            case "QLinearMatMul" -> planQLinearMatMul(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    private static Planned planMatMulInteger(NodeSpec node) {
        DType at = node.requireType(0, BYTES);
        DType bt = node.requireType(1, BYTES);
        if (node.hasInput(2)) {
            node.requireType(2, at);
        }
        if (node.hasInput(3)) {
            node.requireType(3, bt);
        }
        Igemm.Kernel kernel = Igemm.defaultKernel();
        Igemm.Weights packed = prepack(node, 1, 3, kernel);
        return Planned.of((ctx, in) -> new Tensor[] {
            product(ctx, node, in[0], in[1], input(in, 2), input(in, 3), packed, kernel)
        }, DType.INT32);
    }

    private static Planned planQLinearMatMul(NodeSpec node) {
        DType at = node.requireType(0, BYTES);
        DType bt = node.requireType(3, BYTES);
        DType st = node.requireType(1, node.opset() >= 21 ? SCALES : new DType[] {DType.FLOAT});
        node.requireType(4, st);
        node.requireType(6, st);
        node.requireType(2, at);
        node.requireType(5, bt);
        DType out = node.hasInput(7) ? node.requireType(7, BYTES) : at;
        Igemm.Kernel kernel = Igemm.defaultKernel();
        Igemm.Weights packed = prepack(node, 3, 5, kernel);
        return Planned.of((ctx, in) -> {
            Tensor c = product(ctx, node, in[0], in[3], in[2], in[5], packed, kernel);
            Tensor aScale = in[1];
            if (aScale.size() != 1 || in[2].size() != 1 || in[6].size() != 1 || (input(in, 7) != null && in[7].size() != 1)) {
                throw node.error("a_scale, a_zero_point, y_scale and y_zero_point must be scalars (got " + aScale.shape() + ", "
                        + in[2].shape() + ", " + in[6].shape() + ")");
            }
            int n = (int) c.shape().dim(-1);
            double[] mult = multipliers(node, aScale, in[4], in[6], n);
            Tensor y = ctx.allocate(out, c.shape());
            requantize(c, mult, input(in, 7) == null ? 0 : (int) in[7].getAsLong(0), y);
            return new Tensor[] {y};
        }, out);
    }

    static Tensor input(Tensor[] in, int i) {
        return i < in.length ? in[i] : null;
    }

    /**
     * Per output column, {@code aScale * wScale[j] / yScale} rounded like the ONNX reference: in float32, or in
     * float16 / bfloat16 after each operation when the scales have that type.
     */
    static double[] multipliers(NodeSpec node, Tensor aScale, Tensor wScale, Tensor yScale, int n) {
        if (wScale.size() != 1 && wScale.size() != n) {
            throw node.error("weight scale " + wScale.shape() + " must be a scalar or hold one value per output (" + n + ")");
        }
        DType t = aScale.dtype();
        float as = (float) aScale.getDouble(0);
        float ys = (float) yScale.getDouble(0);
        double[] m = new double[n];
        for (int j = 0; j < n; j++) {
            float ws = (float) wScale.getDouble(wScale.size() == 1 ? 0 : j);
            m[j] = round(t, round(t, as * ws) / ys);
        }
        return m;
    }

    private static float round(DType t, float v) {
        return switch (t) {
            case FLOAT16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case BFLOAT16 -> DType.bf16ToFloat(DType.floatToBf16(v));
            default -> v;
        };
    }

    /** {@code y = clamp(rint(c * mult[j]) + zp)} for int32 c with last dim n = mult.length, y of a quantized type. */
    static void requantize(Tensor c, double[] mult, int zp, Tensor y) {
        int n = mult.length;
        int lo = QuantOps.qmin(y.dtype());
        int hi = QuantOps.qmax(y.dtype());
        MemorySegment cs = c.data();
        MemorySegment ys = y.data();
        long total = c.size();
        for (long i = 0; i < total; i++) {
            double v = Math.rint(cs.getAtIndex(Tensor.I32, i) * mult[(int) (i % n)]) + zp;
            ys.set(Tensor.I8, i, (byte) Math.max(lo, Math.min(hi, v)));
        }
    }

    /** Zero points as ints: {0} when absent, {v} for one value, else one per entry. */
    static int[] zeroPoints(Tensor z) {
        if (z == null) {
            return new int[] {0};
        }
        int[] v = new int[(int) z.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (int) z.getAsLong(i);
        }
        return v;
    }

    /** Workspace memory for packing at run time. */
    static LongFunction<MemorySegment> scratch(KernelContext ctx) {
        return bytes -> ctx.allocate(DType.UINT8, Shape.of(bytes)).data();
    }

    /**
     * B packed once per model when input {@code bIdx} is a constant 2-D tensor and its zero point ({@code zIdx})
     * is absent or constant and a scalar or per column; else null (packed at run time).
     */
    private static Igemm.Weights prepack(NodeSpec node, int bIdx, int zIdx, Igemm.Kernel kernel) {
        Tensor b = node.constant(bIdx);
        Tensor z = node.hasInput(zIdx) ? node.constant(zIdx) : null;
        if (b == null || b.shape().rank() != 2 || (node.hasInput(zIdx) && z == null)) {
            return null;
        }
        int k = (int) b.shape().dim(0);
        int n = (int) b.shape().dim(1);
        if (z != null && z.size() != 1 && z.size() != n) {
            return null;
        }
        int[] zb = zeroPoints(z);
        String detail = kernel.name() + ":" + Arrays.toString(zb);
        return node.prepack().get("igemm", b, detail, arena -> Igemm.pack(kernel, arena, b.data(), 0, n, 1,
                b.dtype() == DType.UINT8, k, n, zb));
    }

    /** The int32 numpy-matmul product of u8/s8 a and b with zero points (see the class comment). */
    static Tensor product(KernelContext ctx, NodeSpec node, Tensor a, Tensor b, Tensor aZp, Tensor bZp, Igemm.Weights packed,
                          Igemm.Kernel kernel) {
        int ra = a.shape().rank();
        int rb = b.shape().rank();
        if (ra == 0 || rb == 0) {
            throw node.error("inputs must have rank >= 1, got " + a.shape() + " and " + b.shape());
        }
        long[] ad = ra == 1 ? new long[] {1, a.shape().dim(0)} : a.shape().dims();
        long[] bd = rb == 1 ? new long[] {b.shape().dim(0), 1} : b.shape().dims();
        int m = MatMulOps.toInt(node, ad[ad.length - 2]);
        int k = MatMulOps.toInt(node, ad[ad.length - 1]);
        int n = MatMulOps.toInt(node, bd[bd.length - 1]);
        if (bd[bd.length - 2] != k) {
            throw node.error("inner dims differ: " + a.shape() + " x " + b.shape());
        }
        long[] aBatch = Arrays.copyOf(ad, ad.length - 2);
        long[] bBatch = Arrays.copyOf(bd, bd.length - 2);
        long[] batch = MatMulOps.broadcast(node, aBatch, bBatch, a.shape(), b.shape());
        long[] outDims = Arrays.copyOf(batch, batch.length + (ra > 1 ? 1 : 0) + (rb > 1 ? 1 : 0));
        int at = batch.length;
        if (ra > 1) {
            outDims[at++] = m;
        }
        if (rb > 1) {
            outDims[at] = n;
        }
        Tensor y = ctx.allocate(DType.INT32, Shape.of(outDims));
        long aMats = Shape.of(aBatch).size();
        long bMats = Shape.of(bBatch).size();
        boolean aSigned = a.dtype() == DType.INT8;
        boolean bUnsigned = b.dtype() == DType.UINT8;
        int za = 0;
        MemorySegment rowZa = null;
        if (aZp != null && aZp.size() != 1) {
            long rows = aMats * m;
            long[] zd = aZp.shape().dims();
            boolean perRow = aZp.size() == rows && (zd.length == 1 || zd[zd.length - 1] == 1);
            if (!perRow) {
                throw node.error("a_zero_point " + aZp.shape() + " must be a scalar or hold one value per row of A " + a.shape());
            }
            rowZa = ctx.allocate(DType.INT32, Shape.of(rows)).data();
            for (long i = 0; i < rows; i++) {
                rowZa.setAtIndex(Tensor.I32, i, (int) aZp.getAsLong(i));
            }
        } else if (aZp != null) {
            za = (int) aZp.getAsLong(0);
        }
        int[] zb = zeroPoints(bZp);
        if (zb.length != 1 && zb.length != n && zb.length != n * bMats) {
            throw node.error("b_zero_point " + bZp.shape() + " must be a scalar or hold one value per column of B " + b.shape());
        }
        if (y.size() == 0) {
            return y;
        }
        if (bMats == 1 && Arrays.equals(aBatch, batch)) {
            Igemm.Weights w = packed != null ? packed
                    : Igemm.pack(kernel, scratch(ctx), b.data(), 0, n, 1, bUnsigned, k, n, zb);
            int rows = MatMulOps.toInt(node, aMats * m);
            Igemm.gemm(ctx, rows, new Igemm.Lhs(a.data(), 0, k, aSigned, za, rowZa), w, Igemm.Output.int32(y.data(), 0, n));
            return y;
        }
        long[] aIdxStride = strides(aBatch, batch);
        long[] bIdxStride = strides(bBatch, batch);
        long count = Shape.of(batch).size();
        long[] idx = new long[batch.length];
        for (long q = 0; q < count; q++) {
            long am = 0;
            long bm = 0;
            for (int d = 0; d < batch.length; d++) {
                am += idx[d] * aIdxStride[d];
                bm += idx[d] * bIdxStride[d];
            }
            int[] zbm = zb.length == 1 || zb.length == n ? zb : Arrays.copyOfRange(zb, (int) (bm * n), (int) (bm * n + n));
            Igemm.Weights w = Igemm.pack(kernel, scratch(ctx), b.data(), bm * k * n, n, 1, bUnsigned, k, n, zbm);
            MemorySegment rz = rowZa == null ? null : rowZa.asSlice(am * m * 4L, m * 4L);
            Igemm.gemm(ctx, m, new Igemm.Lhs(a.data(), am * m * k, k, aSigned, za, rz), w,
                    Igemm.Output.int32(y.data(), q * m * n, n));
            for (int d = batch.length - 1; d >= 0 && ++idx[d] == batch[d]; d--) {
                idx[d] = 0;
            }
        }
        return y;
    }

    /** Matrix-index strides of a right-aligned batch {@code dims} seen as {@code out} (0 where broadcast). */
    private static long[] strides(long[] dims, long[] out) {
        long[] s = new long[out.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            int o = i + out.length - dims.length;
            s[o] = dims[i] == 1 ? 0 : acc;
            acc *= dims[i];
        }
        return s;
    }
}
