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
     * Immutable to its users; {@link #gemm(KernelContext, int, MemorySegment, long, long, boolean, int, MemorySegment,
     * Weights, Mode, MemorySegment, long, long, float, MemorySegment, MemorySegment, Epilogue, MemorySegment)} refills
     * one of its own per calling thread, so that a steady-state product allocates nothing.
     */
    public static final class Lhs {
        private MemorySegment data;
        private long offset;
        private long rowStride;
        private boolean signed;
        private int zeroPoint;
        private MemorySegment rowZeroPoints;

        public Lhs(MemorySegment data, long offset, long rowStride, boolean signed, int zeroPoint, MemorySegment rowZeroPoints) {
            set(data, offset, rowStride, signed, zeroPoint, rowZeroPoints);
        }

        private Lhs() {}

        private void set(MemorySegment data, long offset, long rowStride, boolean signed, int zeroPoint, MemorySegment rowZeroPoints) {
            this.data = data;
            this.offset = offset;
            this.rowStride = rowStride;
            this.signed = signed;
            this.zeroPoint = zeroPoint;
            this.rowZeroPoints = rowZeroPoints == null ? MemorySegment.NULL : rowZeroPoints;
        }

        public MemorySegment data() {
            return data;
        }

        public long offset() {
            return offset;
        }

        public long rowStride() {
            return rowStride;
        }

        public boolean signed() {
            return signed;
        }

        public int zeroPoint() {
            return zeroPoint;
        }

        public MemorySegment rowZeroPoints() {
            return rowZeroPoints;
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
     * Immutable to its users; reused per calling thread like {@link Lhs}.
     */
    public static final class Output {
        private Mode mode;
        private MemorySegment data;
        private long offset;
        private long rowStride;
        private float aScale;
        private MemorySegment colScale;
        private MemorySegment bias;
        private Epilogue post;
        private MemorySegment rowScale;

        public Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                      MemorySegment bias, Epilogue post, MemorySegment rowScale) {
            set(mode, data, offset, rowStride, aScale, colScale, bias, post, rowScale);
        }

        public Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                      MemorySegment bias, Epilogue post) {
            this(mode, data, offset, rowStride, aScale, colScale, bias, post, null);
        }

        public Output(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                      MemorySegment bias) {
            this(mode, data, offset, rowStride, aScale, colScale, bias, null, null);
        }

        private Output() {}

        private void set(Mode mode, MemorySegment data, long offset, long rowStride, float aScale, MemorySegment colScale,
                         MemorySegment bias, Epilogue post, MemorySegment rowScale) {
            colScale = colScale == null ? MemorySegment.NULL : colScale;
            if (mode != Mode.INT32 && colScale.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("a float epilogue needs column scales");
            }
            this.mode = mode;
            this.data = data;
            this.offset = offset;
            this.rowStride = rowStride;
            this.aScale = aScale;
            this.colScale = colScale;
            this.bias = bias == null ? MemorySegment.NULL : bias;
            this.post = post != null && (mode == Mode.INT32 || post.isIdentity()) ? null : post;
            this.rowScale = rowScale == null ? MemorySegment.NULL : rowScale;
        }

        public Mode mode() {
            return mode;
        }

        public MemorySegment data() {
            return data;
        }

        public long offset() {
            return offset;
        }

        public long rowStride() {
            return rowStride;
        }

        public float aScale() {
            return aScale;
        }

        public MemorySegment colScale() {
            return colScale;
        }

        public MemorySegment bias() {
            return bias;
        }

        public Epilogue post() {
            return post;
        }

        public MemorySegment rowScale() {
            return rowScale;
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
        Tasks r = TASKS.get();
        run(ctx, r, m, a, w, out);
    }

    /**
     * As {@link #gemm(KernelContext, int, Lhs, Weights, Output)} with the {@link Lhs} and {@link Output} given by
     * their parts (same meanings; null segments for absent ones), which fill objects reused by the calling thread:
     * the form for kernels that run every request, since it allocates nothing.
     */
    public static void gemm(KernelContext ctx, int m, MemorySegment a, long aOffset, long aRowStride, boolean aSigned,
                            int aZeroPoint, MemorySegment aRowZeroPoints, Weights w, Mode mode, MemorySegment out,
                            long outOffset, long outRowStride, float aScale, MemorySegment colScale, MemorySegment bias,
                            Epilogue post, MemorySegment rowScale) {
        Tasks r = TASKS.get();
        r.lhs.set(a, aOffset, aRowStride, aSigned, aZeroPoint, aRowZeroPoints);
        r.output.set(mode, out, outOffset, outRowStride, aScale, colScale, bias, post, rowScale);
        try {
            run(ctx, r, m, r.lhs, w, r.output);
        } finally {
            r.lhs.set(null, 0, 0, false, 0, null);
            r.output.set(Mode.INT32, null, 0, 0, 0f, null, null, null, null);
        }
    }

    private static void run(KernelContext ctx, Tasks r, int m, Lhs a, Weights w, Output out) {
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
            scratch = ctx.allocate(DType.UINT8, r.scratchShape(work * tasks)).data();
        }
        r.set(w, a, out, tn, rows, cols, m, n, scratch, work);
        try {
            ctx.parallelFor(tasks, r);
        } finally {
            r.set(null, null, null, 0, 0, 0, 0, 0, null, 0);
        }
    }

    /**
     * The tasks of {@link #gemm}: a reused object (one per calling thread; fields set before each region and cleared
     * after) instead of a capturing lambda, with the {@link Lhs} and {@link Output} that the by-parts form fills and
     * the shapes of recent scratch requests. Task t works in its own {@code work} bytes of {@code scratch} (native
     * kernel; null for the portable one).
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        final Lhs lhs = new Lhs();
        final Output output = new Output();
        private final Shape[] scratchShapes = new Shape[8];
        private int nextShape;
        private Weights w;
        private Lhs a;
        private Output out;
        private int tn, rows, cols, m, n;
        private MemorySegment scratch;
        private long work;

        /**
         * [bytes], the same instance as before for any of the last 8 sizes asked (the products of a model's layers
         * have a few depths), so that the workspace replays its request without a new Shape.
         */
        Shape scratchShape(long bytes) {
            for (Shape s : scratchShapes) {
                if (s != null && s.dim(0) == bytes) {
                    return s;
                }
            }
            Shape s = Shape.of(bytes);
            scratchShapes[nextShape] = s;
            nextShape = (nextShape + 1) % scratchShapes.length;
            return s;
        }

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
            block(w, a, out, t, tn, rows, cols, m, n, scratch, t * work);
        }
    }

    private static final ThreadLocal<Tasks> TASKS = ThreadLocal.withInitial(Tasks::new);

    /**
     * Task t: its block of rows and columns, by kernel calls of at most POST_ROWS rows when a post-epilogue follows;
     * the native kernel works at byte {@code workAt} of {@code work} (null: the portable kernel).
     */
    private static void block(Weights w, Lhs a, Output out, int t, int tn, int rows, int cols, int m, int n,
                              MemorySegment work, long workAt) {
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
            runNative(w, a, out, r0, r1, j0, j1, work, workAt);
            if (out.post() != null) {
                out.post().apply(out.data(), out.offset() + r0 * out.rowStride() + j0, out.rowStride(), r1 - r0, j1 - j0, r0, j0);
            }
        }
    }

    /**
     * Rows [i0, i1) x columns [j0, j1) through the C kernel, which gets absolute addresses (no segment slices, so
     * nothing is allocated per call). Each operand is checked to be native and to hold the first element the
     * kernel reads, as a slice there would; the extents are the caller's contract, as with any GEMM's strides.
     */
    private static void runNative(Weights w, Lhs a, Output out, int i0, int i1, int j0, int j1, MemorySegment work, long workAt) {
        int kp = 4 * ((w.k + 3) / 4);
        // int8 activations are read as u8 (byte ^ 0x80 = value + 128), so their zero points move up by 128; with
        // per-row zero points the C code adds za to each.
        int shift = a.signed() ? 128 : 0;
        boolean perRow = !a.rowZeroPoints().equals(MemorySegment.NULL);
        int za = perRow ? shift : a.zeroPoint() + shift;
        long aAt = address(a.data(), a.offset() + i0 * a.rowStride(), "A");
        long rowZa = perRow ? address(a.rowZeroPoints(), 4L * i0, "A zero points") : 0;
        long bp = address(w.packed, (long) (j0 / IgemmNative.PANEL) * kp * IgemmNative.PANEL, "packed B");
        long colZb = w.colZb.equals(MemorySegment.NULL) ? 0 : address(w.colZb, 4L * j0, "B zero points");
        long colScale = out.colScale().equals(MemorySegment.NULL) ? 0 : address(out.colScale(), 4L * j0, "column scales");
        long bias = out.bias().equals(MemorySegment.NULL) ? 0 : address(out.bias(), 4L * j0, "bias");
        long o = address(out.data(), (out.offset() + i0 * out.rowStride() + j0) * 4L, "output");
        long rowScale = out.rowScale().equals(MemorySegment.NULL) ? 0 : address(out.rowScale(), 4L * i0, "row scales");
        IgemmNative.gemm(w.kernel, i1 - i0, j1 - j0, w.k, aAt, a.rowStride(), a.signed() ? 0x80 : 0, bp,
                address(w.colSum, 4L * j0, "column sums"), colZb, za, rowZa, out.aScale(), rowScale, colScale, bias,
                out.mode().code(), o, out.rowStride(), address(work, workAt, "scratch"));
    }

    /** The address of byte {@code offset} of native segment {@code s}, checked like {@code s.asSlice(offset)}. */
    private static long address(MemorySegment s, long offset, String what) {
        if (!s.isNative() || offset < 0 || offset > s.byteSize()) {
            throw new IndexOutOfBoundsException("integer GEMM " + what + ": byte " + offset + " of a "
                    + (s.isNative() ? "" : "heap ") + "segment of " + s.byteSize() + " bytes");
        }
        return s.address() + offset;
    }

    static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }
}
