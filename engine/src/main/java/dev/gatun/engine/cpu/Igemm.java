package dev.gatun.engine.cpu;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.function.LongFunction;

/**
 * Integer GEMM with zero points and a fused epilogue: for i < m, j < n
 * <pre>
 *   x[i][j] = sum_p (A[i][p] - za_i) * (B[p][j] - zb_j)        (int32, wrapping like C)
 *   out     = x                                                  (Mode.INT32)
 *           | (float) x * (aScale * colScale[j]) + bias[j]       (Mode.FLOAT; the multiply and the add round apart;
 *                                                                aScale is rowScale[i] when A has per-row scales)
 *           | max(that, 0)                                       (Mode.FLOAT_RELU)
 * </pre>
 * A (activations) is u8 or s8, row-major with a row stride, per-tensor or per-row zero point; B (weights) is u8
 * or s8 with per-tensor or per-column zero points, packed once by {@link #pack} for one {@link Kernel}
 * (u8 weights become s8 by subtracting 128 from values and zero points, which changes no difference b - zb).
 *
 * <p>Kernels: {@link Kernel#AMX_INT8} (tdpbusd on AMX tiles), {@link Kernel#AVX512_VNNI} and {@link Kernel#AVX_VNNI}
 * (vpdpbusd) call the C kernels of {@link IgemmNative} (u8 x s8 sums of 4 products into int32, no 16-bit
 * saturation; all three read the same packed B); {@link Kernel#PORTABLE} is {@link IgemmPortable} (Vector API).
 * The default is the best this machine runs (AMX, else AVX-512 VNNI, else AVX-VNNI, else portable), or forced
 * with the system property {@value #PROPERTY} = {@code auto | native | portable | amx | avx512-vnni | avx-vnni}.
 * All kernels give the same int32 x, bit for bit ({@link IgemmReference} is the scalar definition).
 *
 * <p>Threads: the m x n output is cut into about 2 x threads blocks of whole 64-column panels and rows, run
 * through {@link KernelContext#parallelFor}.
 */
public final class Igemm {
    /** System property forcing the kernel: auto (the default), native, portable, amx, avx512-vnni or avx-vnni. */
    public static final String PROPERTY = "gatun.int8.kernel";

    /** An integer GEMM implementation. */
    public enum Kernel {
        AMX_INT8("native amx-int8"),
        AVX512_VNNI("native avx512-vnni"),
        AVX_VNNI("native avx-vnni"),
        PORTABLE("portable");

        private final String label;

        Kernel(String label) {
            this.label = label;
        }

        public boolean isNative() {
            return this != PORTABLE;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** What the epilogue writes. */
    public enum Mode {
        INT32, FLOAT, FLOAT_RELU;

        int code() {
            return ordinal();
        }
    }

    /** B packed for one kernel; build with {@link #pack}. */
    public static final class Weights {
        final Kernel kernel;
        final int k;
        final int n;
        /** Native: VNNI panels of 64 columns; portable: panels of {@link IgemmPortable#PANEL} columns, each [k][PANEL]. */
        final MemorySegment packed;
        /** int32[n]: column sums of the s8 B (native kernels). */
        final MemorySegment colSum;
        /** int32[n]: s8-domain zero points, or NULL when all are 0. */
        final MemorySegment colZb;
        /** The same zero points on the heap (null when all are 0). */
        final int[] zb;
        /** zb as floats, padded with zeros to a whole portable panel (null when all are 0). */
        final float[] zbFloat;

        private Weights(Kernel kernel, int k, int n, MemorySegment packed, MemorySegment colSum, MemorySegment colZb, int[] zb) {
            this.kernel = kernel;
            this.k = k;
            this.n = n;
            this.packed = packed;
            this.colSum = colSum;
            this.colZb = colZb;
            this.zb = zb;
            if (zb == null) {
                this.zbFloat = null;
            } else {
                this.zbFloat = new float[n + IgemmNative.PANEL];
                for (int j = 0; j < n; j++) {
                    zbFloat[j] = zb[j];
                }
            }
        }

        public Kernel kernel() {
            return kernel;
        }

        public int k() {
            return k;
        }

        public int n() {
            return n;
        }

        /** Bytes held by the packed form. */
        public long byteSize() {
            return packed.byteSize() + colSum.byteSize() + colZb.byteSize();
        }
    }

    /**
     * The A side: element (i, p) is the byte at {@code offset + i * rowStride + p} of {@code data}, read as u8 or
     * s8; its zero point is {@code zeroPoint}, or {@code rowZeroPoints[i]} (int32, native memory) when not NULL.
     */
    public record Lhs(MemorySegment data, long offset, long rowStride, boolean signed, int zeroPoint, MemorySegment rowZeroPoints) {
        public Lhs {
            rowZeroPoints = rowZeroPoints == null ? MemorySegment.NULL : rowZeroPoints;
        }

        int zeroPoint(int i) {
            return rowZeroPoints.equals(MemorySegment.NULL) ? zeroPoint : rowZeroPoints.getAtIndex(Tensor.I32, i);
        }
    }

    /**
     * Where the result goes: element (i, j) at element index {@code offset + i * rowStride + j} of {@code data}
     * (int32 or float by mode). Float modes need {@code colScale} (float[n]); {@code bias} (float[n]) may be null;
     * {@code post} (float modes, may be null) is applied to each block of rows right after the kernel wrote it,
     * while it is in cache (activations such as Gelu, residual adds; its indices are the output's);
     * {@code rowScale} (float[m], may be NULL) replaces {@code aScale} by one scale per row (per-row quantized A).
     */
    public record Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                         MemorySegment bias, Epilogue post, MemorySegment rowScale) {
        public Output {
            colScale = colScale == null ? MemorySegment.NULL : colScale;
            bias = bias == null ? MemorySegment.NULL : bias;
            rowScale = rowScale == null ? MemorySegment.NULL : rowScale;
            if (mode != Mode.INT32 && colScale.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("a float epilogue needs column scales");
            }
            if (post != null && (mode == Mode.INT32 || post.isIdentity())) {
                post = null;
            }
        }

        public Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                      MemorySegment bias, Epilogue post) {
            this(mode, data, offset, rowStride, aScale, colScale, bias, post, null);
        }

        public Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                      MemorySegment bias) {
            this(mode, data, offset, rowStride, aScale, colScale, bias, null, null);
        }

        /** Row i's A scale: {@code rowScale[i]}, or {@code aScale} when there are no row scales. */
        float aScale(int i) {
            return rowScale.equals(MemorySegment.NULL) ? aScale : rowScale.getAtIndex(Tensor.F32, i);
        }

        /** int32 output. */
        public static Output int32(MemorySegment data, long offset, long rowStride) {
            return new Output(Mode.INT32, data, offset, rowStride, 1f, null, null, null);
        }
    }

    /** Rows per kernel call when a post-epilogue follows (so that the block is still in cache). */
    private static final int POST_ROWS = 96;

    private static final Kernel DEFAULT = choose(System.getProperty(PROPERTY, "auto"));

    private Igemm() {}

    /** The kernel this JVM uses unless told otherwise (property {@value #PROPERTY}, CPU features). */
    public static Kernel defaultKernel() {
        return DEFAULT;
    }

    /** The best native kernel this machine runs, or null (with the reason in {@link #nativeUnavailableReason()}). */
    public static Kernel bestNative() {
        if (!IgemmNative.available()) {
            return null;
        }
        if (IgemmNative.amxAvailable()) {
            return Kernel.AMX_INT8;
        }
        if (CpuFeatures.avx512Vnni()) {
            return Kernel.AVX512_VNNI;
        }
        return CpuFeatures.avxVnni() ? Kernel.AVX_VNNI : null;
    }

    /** Why no native kernel runs here, or null when one does. */
    public static String nativeUnavailableReason() {
        if (!IgemmNative.available()) {
            return IgemmNative.unavailableReason();
        }
        return bestNative() == null ? "the CPU has neither AVX-512 VNNI nor AVX-VNNI" : null;
    }

    /** Why {@code kernel} does not run here, or null when it does. */
    public static String unavailableReason(Kernel kernel) {
        if (kernel == Kernel.PORTABLE) {
            return null;
        }
        if (!IgemmNative.available()) {
            return IgemmNative.unavailableReason();
        }
        return switch (kernel) {
            case AMX_INT8 -> IgemmNative.amxUnavailableReason();
            case AVX512_VNNI -> CpuFeatures.avx512Vnni() ? null : "the CPU has no AVX-512 VNNI";
            case AVX_VNNI -> CpuFeatures.avxVnni() ? null : "the CPU has no AVX-VNNI";
            case PORTABLE -> null;
        };
    }

    /** The kernel for a setting of {@value #PROPERTY}: auto, native, portable, amx, avx512-vnni or avx-vnni. */
    static Kernel choose(String setting) {
        String s = setting.trim().toLowerCase(Locale.ROOT);
        Kernel forced = switch (s) {
            case "amx" -> Kernel.AMX_INT8;
            case "avx512-vnni" -> Kernel.AVX512_VNNI;
            case "avx-vnni" -> Kernel.AVX_VNNI;
            default -> null;
        };
        if (forced != null) {
            String why = unavailableReason(forced);
            if (why != null) {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, PROPERTY + "=" + s + ", but that kernel does not run here: " + why);
            }
            return forced;
        }
        return switch (s) {
            case "portable" -> Kernel.PORTABLE;
            case "native" -> {
                Kernel k = bestNative();
                if (k == null) {
                    throw new EngineException(EngineException.Kind.UNSUPPORTED, PROPERTY + "=native, but no native integer GEMM runs here: "
                            + nativeUnavailableReason());
                }
                yield k;
            }
            case "auto", "" -> {
                Kernel k = bestNative();
                yield k == null ? Kernel.PORTABLE : k;
            }
            default -> throw new EngineException(EngineException.Kind.UNSUPPORTED, PROPERTY + "=" + setting
                    + " is not a kernel (auto, native, portable, amx, avx512-vnni or avx-vnni)");
        };
    }

    /**
     * Packs B for {@code kernel}: element (p, j), p < k, j < n, is the byte at {@code bOff + p * rowStride +
     * j * colStride} of {@code b} (u8 when {@code unsigned}); {@code zeroPoints} holds 1 (per tensor) or n values
     * in B's own domain. The result lives in {@code arena}.
     */
    public static Weights pack(Kernel kernel, Arena arena, MemorySegment b, long bOff, long rowStride, long colStride,
                               boolean unsigned, int k, int n, int[] zeroPoints) {
        return pack(kernel, bytes -> arena.allocate(bytes, 64), b, bOff, rowStride, colStride, unsigned, k, n, zeroPoints);
    }

    /** As {@link #pack(Kernel, Arena, MemorySegment, long, long, long, boolean, int, int, int[])}, memory from {@code alloc}. */
    public static Weights pack(Kernel kernel, LongFunction<MemorySegment> alloc, MemorySegment b, long bOff, long rowStride,
                               long colStride, boolean unsigned, int k, int n, int[] zeroPoints) {
        if (zeroPoints.length != 1 && zeroPoints.length != n) {
            throw new IllegalArgumentException("B zero points: " + zeroPoints.length + " values for " + n + " columns");
        }
        int shift = unsigned ? 128 : 0;
        int[] zb = new int[n];
        boolean anyZb = false;
        for (int j = 0; j < n; j++) {
            zb[j] = zeroPoints[zeroPoints.length == 1 ? 0 : j] - shift;
            anyZb |= zb[j] != 0;
        }
        MemorySegment colSum = alloc.apply(Math.max(4L * n, 4));
        MemorySegment colZb = MemorySegment.NULL;
        if (anyZb) {
            colZb = alloc.apply(4L * n);
            MemorySegment.copy(zb, 0, colZb, ValueLayout.JAVA_INT, 0, n);
        }
        MemorySegment packed;
        if (kernel.isNative()) {
            int kp = 4 * ((k + 3) / 4);
            int panels = (n + IgemmNative.PANEL - 1) / IgemmNative.PANEL;
            packed = alloc.apply(Math.max((long) panels * kp * IgemmNative.PANEL, 1));
            packed.fill((byte) 0);
            for (int j = 0; j < n; j++) {
                long panel = (long) (j / IgemmNative.PANEL) * kp * IgemmNative.PANEL + (j % IgemmNative.PANEL) * 4L;
                int sum = 0;
                for (int p = 0; p < k; p++) {
                    byte v = (byte) (b.get(ValueLayout.JAVA_BYTE, bOff + p * rowStride + j * colStride) - shift);
                    packed.set(ValueLayout.JAVA_BYTE, panel + (p >> 2) * 256L + (p & 3), v);
                    sum += v;
                }
                colSum.setAtIndex(Tensor.I32, j, sum);
            }
        } else {
            int pw = IgemmPortable.PANEL;
            // A micro-kernel's width of zero columns past n: a kernel starting at any panel below n stays inside.
            long panels = (roundUp(n, pw) + IgemmPortable.NR) / pw;
            packed = alloc.apply(Math.max(panels * k * pw, 1));
            packed.fill((byte) 0);
            for (int j = 0; j < n; j++) {
                long panel = (long) (j / pw) * k * pw + j % pw;
                for (int p = 0; p < k; p++) {
                    packed.set(ValueLayout.JAVA_BYTE, panel + (long) p * pw,
                            (byte) (b.get(ValueLayout.JAVA_BYTE, bOff + p * rowStride + j * colStride) - shift));
                }
            }
        }
        return new Weights(kernel, k, n, packed, colSum, colZb, anyZb ? zb : null);
    }

    /** {@code out = epilogue(A[m x k] x B[k x n])}; see the class comment. */
    public static void gemm(KernelContext ctx, int m, Lhs a, Weights w, Output out) {
        int n = w.n;
        if (m <= 0 || n <= 0) {
            return;
        }
        int threads = Math.max(1, ctx.threads());
        int target = threads == 1 ? 1 : 2 * threads;
        int panels = (n + IgemmNative.PANEL - 1) / IgemmNative.PANEL;
        int panelsPerTask = (panels + Math.min(panels, target) - 1) / Math.min(panels, target);
        int tn = (panels + panelsPerTask - 1) / panelsPerTask;
        // Rows per micro-tile: the VNNI kernels' 6, AMX's 16 (a task of 66 rows would run 5 tiles of 16 for 4 + 2 rows).
        int rowUnit = w.kernel == Kernel.AMX_INT8 ? 16 : 6;
        int tmWanted = Math.max(1, Math.min((m + rowUnit - 1) / rowUnit, (target + tn - 1) / tn));
        int rows = roundUp((m + tmWanted - 1) / tmWanted, rowUnit);
        int tm = (m + rows - 1) / rows;
        int tasks = tm * tn;
        int cols = panelsPerTask * IgemmNative.PANEL;
        long work = 0;
        MemorySegment scratch = null;
        if (w.kernel.isNative()) {
            work = IgemmNative.workBytes(w.kernel, w.k);
            scratch = ctx.allocate(DType.UINT8, Shape.of(work * tasks)).data();
        }
        Tasks r = TASKS.get();
        r.set(w, a, out, tn, rows, cols, m, n, scratch, work);
        try {
            ctx.parallelFor(tasks, r);
        } finally {
            r.set(null, null, null, 0, 0, 0, 0, 0, null, 0);
        }
    }

    /**
     * The tasks of {@link #gemm}: a reused object (one per calling thread; fields set before each region and cleared
     * after) instead of a capturing lambda. Task t works in its own {@code work} bytes of {@code scratch} (native
     * kernel; null for the portable one).
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        private Weights w;
        private Lhs a;
        private Output out;
        private int tn, rows, cols, m, n;
        private MemorySegment scratch;
        private long work;

        void set(Weights w, Lhs a, Output out, int tn, int rows, int cols, int m, int n, MemorySegment scratch, long work) {
            this.w = w;
            this.a = a;
            this.out = out;
            this.tn = tn;
            this.rows = rows;
            this.cols = cols;
            this.m = m;
            this.n = n;
            this.scratch = scratch;
            this.work = work;
        }

        @Override
        public void accept(int t) {
            block(w, a, out, t, tn, rows, cols, m, n, scratch == null ? null : scratch.asSlice(t * work, work));
        }
    }

    private static final ThreadLocal<Tasks> TASKS = ThreadLocal.withInitial(Tasks::new);

    /** Task t: its block of rows and columns, by kernel calls of at most POST_ROWS rows when a post-epilogue follows. */
    private static void block(Weights w, Lhs a, Output out, int t, int tn, int rows, int cols, int m, int n, MemorySegment work) {
        int i0 = (t / tn) * rows;
        int i1 = Math.min(m, i0 + rows);
        int j0 = (t % tn) * cols;
        int j1 = Math.min(n, j0 + cols);
        if (work == null) {
            // The portable kernel applies the post-epilogue itself, per block of columns (repacking B per row chunk
            // would cost more than the cache misses it saves).
            IgemmPortable.gemm(i0, i1, j0, j1, a, w, out);
            return;
        }
        int step = out.post() == null ? i1 - i0 : POST_ROWS;
        for (int r0 = i0; r0 < i1; r0 += step) {
            int r1 = Math.min(i1, r0 + step);
            runNative(w, a, out, r0, r1, j0, j1, work);
            if (out.post() != null) {
                out.post().apply(out.data(), out.offset() + r0 * out.rowStride() + j0, out.rowStride(), r1 - r0, j1 - j0, r0, j0);
            }
        }
    }

    private static void runNative(Weights w, Lhs a, Output out, int i0, int i1, int j0, int j1, MemorySegment work) {
        int kp = 4 * ((w.k + 3) / 4);
        MemorySegment aSeg = a.data().asSlice(a.offset() + i0 * a.rowStride());
        // int8 activations are read as u8 (byte ^ 0x80 = value + 128), so their zero points move up by 128; with
        // per-row zero points the C code adds za to each.
        int shift = a.signed() ? 128 : 0;
        boolean perRow = !a.rowZeroPoints().equals(MemorySegment.NULL);
        int za = perRow ? shift : a.zeroPoint() + shift;
        MemorySegment rowZa = perRow ? a.rowZeroPoints().asSlice(4L * i0) : MemorySegment.NULL;
        MemorySegment bp = w.packed.asSlice((long) (j0 / IgemmNative.PANEL) * kp * IgemmNative.PANEL);
        MemorySegment colZb = w.colZb.equals(MemorySegment.NULL) ? MemorySegment.NULL : w.colZb.asSlice(4L * j0);
        MemorySegment colScale = out.colScale().equals(MemorySegment.NULL) ? MemorySegment.NULL : out.colScale().asSlice(4L * j0);
        MemorySegment bias = out.bias().equals(MemorySegment.NULL) ? MemorySegment.NULL : out.bias().asSlice(4L * j0);
        MemorySegment o = out.data().asSlice((out.offset() + i0 * out.rowStride() + j0) * 4L);
        MemorySegment rowScale = out.rowScale().equals(MemorySegment.NULL) ? MemorySegment.NULL : out.rowScale().asSlice(4L * i0);
        IgemmNative.gemm(w.kernel, i1 - i0, j1 - j0, w.k, aSeg, a.rowStride(), a.signed() ? 0x80 : 0, bp,
                w.colSum.asSlice(4L * j0), colZb, za, rowZa, out.aScale(), rowScale, colScale, bias,
                out.mode().code(), o, out.rowStride(), work);
    }

    static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }
}
