package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.PackedB;
import dev.gatun.engine.cpu.Sgemm;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Dense products: MatMul, Gemm and Einsum.
 *
 * <ul>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__MatMul.html">MatMul</a> (1, 9, 13): numpy's matmul.
 *       {@code A[..., M, K] x B[..., K, N] -> Y[..., M, N]}; a 1-D A is promoted to [1, K] and a 1-D B to [K, 1],
 *       the added dim being removed from Y; the batch dims (all but the last two) broadcast numpy-style.
 *       When B has no batch (or only 1s) the batch of A folds into M: one GEMM of [batch*M, K] x [K, N].</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__Gemm.html">Gemm</a> (1, 6, 7, 9, 11, 13):
 *       {@code Y[M,N] = alpha * op(A) x op(B) + beta * C}, op = transpose when transA / transB is set, A and B 2-D;
 *       C broadcasts unidirectionally to [M, N] (from opset 7; before, only with {@code broadcast=1},
 *       else C must be [M, N]); C is optional from opset 11.</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__Einsum.html">Einsum</a> (12): see {@link Einsum}.</li>
 * </ul>
 *
 * <p>float32 runs on {@link Sgemm} over the session's threads; a constant 2-D float32 B (MatMul and Gemm weights)
 * is packed once at plan time into a {@link PackedB} (prepack cache kind "sgemm-b"), and a Gemm bias C of shape
 * [N] or [1, N] with beta = 1 is added by the GEMM's epilogue instead of being copied into Y first. Batched
 * MatMuls (attention: [B, H, S, D] x [B, H, D, S]) run their small GEMMs in parallel over the batch. float16 and
 * bfloat16 are widened to float32, multiplied by Sgemm and narrowed; double and the integer types take a scalar loop
 * accumulating in double / long (integers wrap like C).
 */
public final class MatMulOps implements OpFamily {
    private static final DType[] MATMUL_TYPES = {
        DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT32, DType.INT64, DType.UINT32, DType.UINT64
    };
    private static final DType[] EINSUM_TYPES = {
        DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16, DType.INT32, DType.INT64,
        DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64
    };

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("MatMul", 1, MATMUL_TYPES),
                OpInfo.of("Gemm", 1, MATMUL_TYPES),
                OpInfo.of("Einsum", 12, EINSUM_TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "MatMul" -> planMatMul(node);
            case "Gemm" -> planGemm(node);
            case "Einsum" -> Einsum.plan(node, EINSUM_TYPES);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    // ---------------------------------------------------------------- MatMul

    private static Planned planMatMul(NodeSpec node) {
        DType t = node.requireType(0, MATMUL_TYPES);
        node.requireType(1, t);
        if (isHalf(t)) {
            return Planned.of((ctx, in) -> new Tensor[] {narrow(ctx, matmul(ctx, node, widen(ctx, in[0]), widen(ctx, in[1])), t)}, t);
        }
        SparsePlanner.Choice sparse = t == DType.FLOAT
                ? SparsePlanner.plan(node, node.constant(1), false, () -> prepack(node, node.constant(1), false)) : null;
        if (sparse != null) {
            return Planned.of((ctx, in) -> new Tensor[] {matmulSparse(ctx, node, in[0], sparse)}, t);
        }
        PackedB packed = t == DType.FLOAT ? prepack(node, node.constant(1), false) : null;
        if (packed != null) {
            return Planned.of((ctx, in) -> new Tensor[] {matmulPacked(ctx, node, in[0], packed)}, t);
        }
        return Planned.of((ctx, in) -> new Tensor[] {matmul(ctx, node, in[0], in[1])}, t);
    }

    /**
     * The constant 2-D float32 weight {@code w} (op(B) = w, or w^T with {@code transB}) packed for Sgemm once per
     * model, or null when there is none or it is empty or a single column (a matrix-vector product, not packed).
     */
    private static PackedB prepack(NodeSpec node, Tensor w, boolean transB) {
        if (w == null || w.dtype() != DType.FLOAT || w.shape().rank() != 2) {
            return null;
        }
        long rows = w.shape().dim(0);
        long cols = w.shape().dim(1);
        int k = toInt(node, transB ? cols : rows);
        int n = toInt(node, transB ? rows : cols);
        if (k == 0 || n <= 1) {
            return null;
        }
        int ld = toInt(node, cols);
        return node.prepack().get("sgemm-b", w, (transB ? "T" : "N") + k + "x" + n,
                arena -> PackedB.pack(arena, transB, k, n, w.data(), 0, ld));
    }

    /** float32 {@code a[..., M, K]} (or [K]) times a packed constant [K, N]: one GEMM with the batch folded into M. */
    private static Tensor matmulPacked(KernelContext ctx, NodeSpec node, Tensor a, PackedB b) {
        Shape s = a.shape();
        if (s.rank() == 0 || s.dim(-1) != b.k()) {
            throw node.error("MatMul inner dims differ: " + s + " x [" + b.k() + "," + b.n() + "]");
        }
        long[] dims = s.dims();
        dims[dims.length - 1] = b.n();
        Tensor y = ctx.allocate(DType.FLOAT, Shape.of(dims));
        int rows = toInt(node, s.size() / b.k());
        Sgemm.sgemm(ctx, false, rows, 1f, a.data(), 0, b.k(), b, 0f, y.data(), 0, b.n(), Epilogue.NONE);
        return y;
    }

    /** float32 {@code a[..., M, K]} (or [K]) times a constant [K, N] planned sparse ({@link SparsePlanner}). */
    private static Tensor matmulSparse(KernelContext ctx, NodeSpec node, Tensor a, SparsePlanner.Choice b) {
        int k = b.sparse().k();
        int n = b.sparse().n();
        Shape s = a.shape();
        if (s.rank() == 0 || s.dim(-1) != k) {
            throw node.error("MatMul inner dims differ: " + s + " x [" + k + "," + n + "]");
        }
        long[] dims = s.dims();
        dims[dims.length - 1] = n;
        Tensor y = ctx.allocate(DType.FLOAT, Shape.of(dims));
        b.multiply(ctx, toInt(node, s.size() / k), a.data(), 0, k, y.data(), 0, n, Epilogue.NONE);
        return y;
    }

    /** numpy matmul of {@code a} and {@code b} (same dtype) into a new tensor. */
    static Tensor matmul(KernelContext ctx, NodeSpec node, Tensor a, Tensor b) {
        int ra = a.shape().rank();
        int rb = b.shape().rank();
        if (ra == 0 || rb == 0) {
            throw node.error("MatMul inputs must have rank >= 1, got " + a.shape() + " and " + b.shape());
        }
        long[] ad = ra == 1 ? new long[] {1, a.shape().dim(0)} : a.shape().dims();
        long[] bd = rb == 1 ? new long[] {b.shape().dim(0), 1} : b.shape().dims();
        int m = toInt(node, ad[ad.length - 2]);
        int k = toInt(node, ad[ad.length - 1]);
        int n = toInt(node, bd[bd.length - 1]);
        if (bd[bd.length - 2] != k) {
            throw node.error("MatMul inner dims differ: " + a.shape() + " x " + b.shape());
        }
        long[] aBatch = Arrays.copyOf(ad, ad.length - 2);
        long[] bBatch = Arrays.copyOf(bd, bd.length - 2);
        long[] batch = broadcast(node, aBatch, bBatch, a.shape(), b.shape());
        long[] outDims = Arrays.copyOf(batch, batch.length + (ra > 1 ? 1 : 0) + (rb > 1 ? 1 : 0));
        int at = batch.length;
        if (ra > 1) {
            outDims[at++] = m;
        }
        if (rb > 1) {
            outDims[at] = n;
        }
        Tensor y = ctx.allocate(a.dtype(), Shape.of(outDims));
        long bBatchSize = Shape.of(bBatch).size();
        if (bBatchSize == 1 && Arrays.equals(aBatch, batch)) {
            long rows = Math.multiplyExact(Shape.of(aBatch).size(), (long) m);
            gemm(ctx, false, false, toInt(node, rows), n, k, 1f, a, 0, k, b, 0, n, 0f, y, 0, n);
            return y;
        }
        long[] aStrides = batchStrides(aBatch, batch, (long) m * k);
        long[] bStrides = batchStrides(bBatch, batch, (long) k * n);
        long count = Shape.of(batch).size();
        int threads = ctx.threads();
        long flopsEach = 2L * m * n * k;
        // Many small products (attention heads): one task per range of the batch, each GEMM on one thread.
        boolean overBatch = threads > 1 && count >= 2 && (count >= 2L * threads || flopsEach < (4L << 20));
        int tasks = overBatch ? (int) Math.min(count, 4L * threads) : 1;
        KernelContext inner = overBatch ? null : ctx;
        IntConsumer body = t -> {
            long q1 = count * (t + 1) / tasks;
            for (long q = count * t / tasks; q < q1; q++) {
                long aOff = 0;
                long bOff = 0;
                for (long rest = q, d = batch.length - 1; d >= 0; d--) {
                    long idx = rest % batch[(int) d];
                    rest /= batch[(int) d];
                    aOff += idx * aStrides[(int) d];
                    bOff += idx * bStrides[(int) d];
                }
                gemm(inner, false, false, m, n, k, 1f, a, aOff, k, b, bOff, n, 0f, y, q * m * n, n);
            }
        };
        if (tasks == 1) {
            body.accept(0);
        } else {
            ctx.parallelFor(tasks, body);
        }
        return y;
    }

    /** numpy broadcast of two shapes (right-aligned; 1 stretches). */
    static long[] broadcast(NodeSpec node, long[] x, long[] y, Shape xs, Shape ys) {
        int r = Math.max(x.length, y.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long a = i < r - x.length ? 1 : x[i - (r - x.length)];
            long b = i < r - y.length ? 1 : y[i - (r - y.length)];
            if (a != b && a != 1 && b != 1) {
                throw node.error("cannot broadcast the batch dims of " + xs + " and " + ys);
            }
            out[i] = a == 1 ? b : a;
        }
        return out;
    }

    /** Element strides of a right-aligned batch {@code dims} seen as {@code out} (0 where broadcast), per matrix of {@code matrix} elements. */
    private static long[] batchStrides(long[] dims, long[] out, long matrix) {
        long[] s = new long[out.length];
        long acc = matrix;
        for (int i = dims.length - 1; i >= 0; i--) {
            int o = i + out.length - dims.length;
            s[o] = dims[i] == 1 ? 0 : acc;
            acc *= dims[i];
        }
        return s;
    }

    static int toInt(NodeSpec node, long v) {
        if (v > Integer.MAX_VALUE) {
            throw node.error("matrix dim " + v + " is too large (max " + Integer.MAX_VALUE + ")");
        }
        return (int) v;
    }

    // ---------------------------------------------------------------- Gemm

    private static Planned planGemm(NodeSpec node) {
        DType t = node.requireType(0, MATMUL_TYPES);
        node.requireType(1, t);
        if (node.hasInput(2)) {
            node.requireType(2, t);
        }
        Attributes at = node.attrs();
        boolean transA = at.getInt("transA", 0) != 0;
        boolean transB = at.getInt("transB", 0) != 0;
        float alpha = at.getFloat("alpha", 1f);
        float beta = at.getFloat("beta", 1f);
        boolean strictC = node.opset() < 7 && at.getInt("broadcast", 0) == 0;
        PackedB packed = t == DType.FLOAT ? prepack(node, node.constant(1), transB) : null;
        SparsePlanner.Choice sparse = t == DType.FLOAT && !transA && alpha == 1f && packed != null
                ? SparsePlanner.plan(node, node.constant(1), transB, () -> packed) : null;
        Memo<Shape> shapes = new Memo<>();
        Memo<Epilogue> biases = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor a = widen(ctx, in[0]);
            Tensor b = widen(ctx, in[1]);
            Tensor c = widen(ctx, in.length > 2 ? in[2] : null);
            if (a.shape().rank() != 2 || b.shape().rank() != 2) {
                throw node.error("Gemm needs 2-D A and B, got " + a.shape() + " and " + b.shape());
            }
            int m = toInt(node, a.shape().dim(transA ? 1 : 0));
            int k = toInt(node, a.shape().dim(transA ? 0 : 1));
            int kb = toInt(node, b.shape().dim(transB ? 1 : 0));
            int n = toInt(node, b.shape().dim(transB ? 0 : 1));
            if (k != kb) {
                throw node.error("Gemm inner dims differ: A " + a.shape() + (transA ? " (transposed)" : "")
                        + " x B " + b.shape() + (transB ? " (transposed)" : ""));
            }
            Shape ys = shapes.get(a.shape(), b.shape(), null);
            if (ys == null) {
                ys = shapes.put(a.shape(), b.shape(), null, Shape.of(m, n));
            }
            Tensor y = ctx.allocate(a.dtype(), ys);
            float betaRun = 0f;
            Epilogue epi = Epilogue.NONE;
            if (c != null && beta != 0f) {
                if (strictC && !c.shape().equals(ys)) {
                    throw node.error("C " + c.shape() + " must be [" + m + "," + n + "] when broadcast=0 (opset " + node.opset() + ")");
                }
                if (beta == 1f && y.dtype() == DType.FLOAT && isRowVector(c.shape(), n)) {
                    epi = biases.get(c.data());
                    if (epi == null) {
                        epi = biases.put(c.data(), Epilogue.NONE.withBias(c.data(), 0)); // added as each output tile is stored
                    }
                } else {
                    fillBroadcast(node, c, y, m, n);
                    betaRun = beta;
                }
            }
            int lda = transA ? m : k;
            if (sparse != null && betaRun == 0f && m > 0) {
                if (k != packed.k() || n != packed.n()) {
                    throw node.error("Gemm B " + b.shape() + " does not match its packed form");
                }
                sparse.multiply(ctx, m, a.data(), 0, lda, y.data(), 0, n, epi);
            } else if (packed != null && m > 0) {
                if (k != packed.k() || n != packed.n()) {
                    throw node.error("Gemm B " + b.shape() + " does not match its packed form");
                }
                Sgemm.sgemm(ctx, transA, m, alpha, a.data(), 0, lda, packed, betaRun, y.data(), 0, n, epi);
            } else if (y.dtype() == DType.FLOAT) {
                Sgemm.sgemm(ctx, transA, transB, m, n, k, alpha, a.data(), 0, lda, b.data(), 0, transB ? k : n,
                        betaRun, y.data(), 0, n, epi);
            } else {
                gemm(ctx, transA, transB, m, n, k, alpha, a, 0, lda, b, 0, transB ? k : n, betaRun, y, 0, n);
            }
            return isHalf(t) ? new Tensor[] {narrow(ctx, y, t)} : Memo.outputs(outputs, y);
        }, t);
    }

    /** Whether a C of shape {@code s} is one value per column: [n] or [1, n] (n > 1, so not a scalar broadcast). */
    private static boolean isRowVector(Shape s, int n) {
        return n > 1 && (s.rank() == 1 || (s.rank() == 2 && s.dim(0) == 1)) && s.dim(-1) == n;
    }

    /** Copies C, unidirectionally broadcast to [m, n], into y. */
    private static void fillBroadcast(NodeSpec node, Tensor c, Tensor y, int m, int n) {
        Shape s = c.shape();
        int r = s.rank();
        long cm = r == 2 ? s.dim(0) : 1;
        long cn = r >= 1 ? s.dim(-1) : 1;
        if (r > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n)) {
            throw node.error("C " + s + " does not broadcast to [" + m + "," + n + "]");
        }
        int es = y.dtype().byteSize();
        MemorySegment src = c.data();
        MemorySegment dst = y.data();
        for (int i = 0; i < m; i++) {
            long srcRow = cm == 1 ? 0 : (long) i * cn;
            long dstRow = (long) i * n;
            if (cn == n) {
                MemorySegment.copy(src, srcRow * es, dst, dstRow * es, (long) n * es);
            } else {
                for (int j = 0; j < n; j++) {
                    MemorySegment.copy(src, srcRow * es, dst, (dstRow + j) * es, es);
                }
            }
        }
    }

    // ---------------------------------------------------------------- shared GEMM dispatch

    /**
     * {@code y = alpha * op(a) x op(b) + beta * y} on tensors of any MatMul dtype, offsets and strides in elements
     * (the {@link Sgemm} contract): float32 on Sgemm, double and integers on scalar loops (16-bit floats are widened
     * to float32 by the callers).
     */
    static void gemm(boolean ta, boolean tb, int m, int n, int k, float alpha,
                     Tensor a, long aOff, int lda, Tensor b, long bOff, int ldb, float beta, Tensor y, long yOff, int ldy) {
        gemm(null, ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, y, yOff, ldy);
    }

    /** As {@link #gemm(boolean, boolean, int, int, int, float, Tensor, long, int, Tensor, long, int, float, Tensor, long, int)}, float32 on the threads of {@code ctx} (null: this thread). */
    static void gemm(KernelContext ctx, boolean ta, boolean tb, int m, int n, int k, float alpha,
                     Tensor a, long aOff, int lda, Tensor b, long bOff, int ldb, float beta, Tensor y, long yOff, int ldy) {
        switch (y.dtype()) {
            case FLOAT -> Sgemm.sgemm(ctx, ta, tb, m, n, k, alpha, a.data(), aOff, lda, b.data(), bOff, ldb, beta, y.data(), yOff, ldy,
                    Epilogue.NONE);
            case DOUBLE -> gemmDouble(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, y, yOff, ldy);
            default -> {
                if (!y.dtype().isInteger()) {
                    throw new IllegalArgumentException("gemm on " + y.dtype());
                }
                gemmInteger(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, y, yOff, ldy);
            }
        }
    }

    /** Whether {@code t} is a 16-bit float type, computed in float32. */
    static boolean isHalf(DType t) {
        return t == DType.FLOAT16 || t == DType.BFLOAT16;
    }

    /** A float16/bfloat16 tensor widened into a new float32 tensor; other tensors (and null) as they are. */
    static Tensor widen(KernelContext ctx, Tensor t) {
        if (t == null || !isHalf(t.dtype())) {
            return t;
        }
        Tensor f = ctx.allocate(DType.FLOAT, t.shape());
        MemorySegment src = t.data();
        MemorySegment dst = f.data();
        boolean bf16 = t.dtype() == DType.BFLOAT16;
        for (long i = 0, n = t.size(); i < n; i++) {
            short h = src.getAtIndex(Tensor.I16, i);
            dst.setAtIndex(Tensor.F32, i, bf16 ? DType.bf16ToFloat(h) : Float.float16ToFloat(h));
        }
        return f;
    }

    /** A float32 tensor rounded into a new tensor of the 16-bit type {@code t}. */
    static Tensor narrow(KernelContext ctx, Tensor f, DType t) {
        Tensor h = ctx.allocate(t, f.shape());
        MemorySegment src = f.data();
        MemorySegment dst = h.data();
        boolean bf16 = t == DType.BFLOAT16;
        for (long i = 0, n = f.size(); i < n; i++) {
            float v = src.getAtIndex(Tensor.F32, i);
            dst.setAtIndex(Tensor.I16, i, bf16 ? DType.floatToBf16(v) : Float.floatToFloat16(v));
        }
        return h;
    }

    private static void gemmDouble(boolean ta, boolean tb, int m, int n, int k, float alpha, Tensor a, long aOff, int lda,
                                   Tensor b, long bOff, int ldb, float beta, Tensor y, long yOff, int ldy) {
        MemorySegment as = a.data();
        MemorySegment bs = b.data();
        MemorySegment ys = y.data();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    acc += as.getAtIndex(Tensor.F64, aOff + (ta ? (long) p * lda + i : (long) i * lda + p))
                            * bs.getAtIndex(Tensor.F64, bOff + (tb ? (long) j * ldb + p : (long) p * ldb + j));
                }
                long at = yOff + (long) i * ldy + j;
                double v = alpha == 1f ? acc : alpha * acc;
                if (beta != 0f) {
                    v += beta * ys.getAtIndex(Tensor.F64, at);
                }
                ys.setAtIndex(Tensor.F64, at, v);
            }
        }
    }

    /** Integer GEMM: wrapping long accumulation; alpha / beta other than 1 go through double, as numpy would. */
    private static void gemmInteger(boolean ta, boolean tb, int m, int n, int k, float alpha, Tensor a, long aOff, int lda,
                                    Tensor b, long bOff, int ldb, float beta, Tensor y, long yOff, int ldy) {
        boolean unsigned = !y.dtype().isSigned();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long acc = 0;
                for (int p = 0; p < k; p++) {
                    acc += a.getAsLong(aOff + (ta ? (long) p * lda + i : (long) i * lda + p))
                            * b.getAsLong(bOff + (tb ? (long) j * ldb + p : (long) p * ldb + j));
                }
                long at = yOff + (long) i * ldy + j;
                long v;
                if (alpha == 1f && (beta == 0f || beta == 1f)) {
                    v = beta == 0f ? acc : acc + y.getAsLong(at);
                } else {
                    double d = alpha * (unsigned ? unsignedToDouble(acc) : acc);
                    if (beta != 0f) {
                        d += beta * y.getDouble(at);
                    }
                    v = (long) d;
                }
                y.setLong(at, v);
            }
        }
    }

    private static double unsignedToDouble(long v) {
        return v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
    }
}
