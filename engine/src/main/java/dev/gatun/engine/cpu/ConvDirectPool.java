package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link ConvDirect}'s convolution with a 2-D MaxPool applied as its rows are computed (ResNet's stem: 7x7/2 conv
 * then 3x3/2 pool), so that the convolution's output never reaches memory:
 * {@code Y[n, m, py, px] = max_{i < kh, j < kw} clamp(C[n, m, py*sh + i - pt, px*sw + j - pl], lo, hi)} over the
 * positions inside C (others ignored, as -inf), C the convolution with its bias ({@link ConvDirect}'s chains).
 *
 * <ul>
 *   <li>Tasks: (panel range, pooled-row range over the images of the call), split as {@link ConvDirect}'s (panels
 *       first). Per panel, a task keeps the last kh convolution rows of the image in a ring of per-thread slots,
 *       row oy in slot {@code oy % kh}, each {@code [position][MR]} as {@link ConvDirectKernels#kernel} writes its
 *       tiles (no transpose), clamped in place once computed. Pooled row by pooled row, and for each the task's
 *       panels in turn (so that the image's input rows stay in cache across the panels), it computes the rows of
 *       the window that the ring lacks: each convolution row is computed once per task, only a task's first pooled
 *       row recomputing the rows it shares with the previous task.</li>
 *   <li>Pooling, lane by lane over the panel's 32 channels (two vectors per position): the vertical maxima of the
 *       window's rows per column, then per pooled position the maxima over its columns inside the plane (the
 *       columns are clipped, so pads are ignored); for windows 3 wide at column stride 2 and at most 3 rows (the
 *       stem's) both in one pass, each column's vertical maximum carried to the next pooled position. The clamp
 *       comes before the maxima, as the unfused store does, so that the result equals Conv then MaxPool bit for bit
 *       (max then clamp differs when a window's maximum is -0.0 and it holds a value below the lower bound).</li>
 *   <li>Store: the pooled row {@code [px][MR]} is transposed in registers by 16 x 16 blocks
 *       ({@link ConvDirectKernels#transpose}: a quarter of the transposes the convolution's rows would need for a
 *       3x3/2 pool) and written to Y (NCHW) once, by {@link ConvDirect}'s run store.</li>
 * </ul>
 */
public final class ConvDirectPool {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final int MR = ConvDirect.MR;
    private static final int TP = ConvDirect.TP;

    private ConvDirectPool() {}

    /**
     * A 2-D MaxPool window over the convolution's output (dilations 1): kernel kh x kw, strides sh, sw, leading pads
     * pt, pl, output oh x ow (computed by the caller from the ONNX attributes; trailing pads need no other care).
     */
    public record Window(int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow) {}

    /**
     * Whether {@link ConvDirect#convPool} runs this convolution layout (one that {@link ConvDirect} suits) of m output
     * channels with this window: 16-lane vectors, group 1, planes not 7 wide, and rings of all panels within 4 MB.
     */
    public static boolean fits(PhaseLayout lay, int group, int m, Window w) {
        return ConvDirect.TRANSPOSE && group == 1 && 2 * lay.ow != TP && w.kh >= 1 && w.kw >= 1 && w.sh >= 1 && w.sw >= 1
                && w.pt >= 0 && w.pl >= 0 && w.oh >= 1 && w.ow >= 1 && w.kh <= 16 && (long) w.ow * MR <= 1 << 20
                && (long) Math.ceilDiv(m, MR) * w.kh * ConvDirect.rowLanes(lay.ow) * MR <= 1 << 20;
    }

    /** The pooled tasks of one chunk of images: task t is (panel range, pooled-row range over the chunk's images). */
    static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private Window win;
        private ConvGemm.Packed pw;
        private MemorySegment buf, y;
        private int[] koff;
        private int mSplit, rSplit, rows, first, imgFloats;
        private float lo, hi;

        void set(PhaseLayout lay, Window win, ConvGemm.Packed pw, MemorySegment buf, MemorySegment y, int[] koff, int mSplit, int rSplit,
                 int rows, int first, int imgFloats, float lo, float hi) {
            this.lay = lay;
            this.win = win;
            this.pw = pw;
            this.buf = buf;
            this.y = y;
            this.koff = koff;
            this.mSplit = mSplit;
            this.rSplit = rSplit;
            this.rows = rows;
            this.first = first;
            this.imgFloats = imgFloats;
            this.lo = lo;
            this.hi = hi;
        }

        void clear() {
            lay = null;
            win = null;
            pw = null;
            buf = null;
            y = null;
            koff = null;
        }

        @Override
        public void accept(int t) {
            int ms = t / rSplit;
            int rs = t % rSplit;
            int panels = pw.panels();
            int q0 = panels * ms / mSplit;
            int q1 = panels * (ms + 1) / mSplit;
            int r0 = (int) ((long) rows * rs / rSplit);
            int r1 = (int) ((long) rows * (rs + 1) / rSplit);
            int oh = lay.oh;
            int ow = lay.ow;
            int wq = lay.wq;
            int kh = win.kh;
            int ph = win.oh;
            int pwid = win.ow;
            int kdim = pw.kdim();
            int m = pw.mg();
            int slot = ConvDirect.rowLanes(ow) * MR;
            int pooled = Math.ceilDiv(pwid, VL) * VL;
            // One array: the ring of kh slots, the vertical maxima [ow][MR], the pooled row [pooled][MR], its
            // transpose [MR][pooled].
            int ring = kh * slot;
            int vAt = (q1 - q0) * ring;
            int pAt = vAt + ow * MR;
            int tAt = pAt + pooled * MR;
            float[] acc = PhaseLayout.scratch(ConvDirect.ACC, tAt + MR * pooled);
            float[] a = pw.a();
            float[] bias = pw.bias();
            boolean vectorStore = y.isNative();
            for (int ra = r0; ra < r1; ) {
                int img = ra / ph;
                int py0 = ra - img * ph;
                int py1 = Math.min(ph, py0 + r1 - ra);
                long xImg = buf.address() + 4L * img * imgFloats;
                int have = 0;
                for (int py = py0; py < py1; py++) {
                    int top = py * win.sh - win.pt;
                    int cLo = Math.max(top, 0);
                    int cHi = Math.min(top + kh, oh);
                    for (int q = q0; q < q1; q++) {
                        int ao = q * kdim * MR;
                        int base = (q - q0) * ring;
                        // The panel's ring holds rows [have - kh, have); compute the window's rows past it.
                        for (int oy = Math.max(have, cLo); oy < cHi; oy++) {
                            int at = base + oy % kh * slot;
                            for (int ox = 0; ox < ow; ox += TP) {
                                ConvDirectKernels.kernel(a, ao, xImg + 4L * (oy * wq + ox), koff, kdim, bias, q * MR, acc, at + ox * MR);
                            }
                            clamp(acc, at, ow * MR, lo, hi);
                        }
                        if (win.kw == 3 && win.sw == 2 && cHi - cLo <= 3 && cLo < cHi) {
                            int s0 = base + cLo % kh * slot;
                            int s1 = base + Math.min(cLo + 1, cHi - 1) % kh * slot;
                            int s2 = base + (cHi - 1) % kh * slot;
                            threeByTwo(acc, s0, s1, s2, ow, pAt, pwid, win.pl);
                        } else {
                            vertical(acc, base, slot, kh, cLo, cHi, ow * MR, vAt);
                            horizontal(acc, vAt, ow, pAt, pwid, win.kw, win.sw, win.pl);
                        }
                        for (int p = 0; p < pwid; p += VL) {
                            ConvDirectKernels.transpose(acc, pAt + p * MR, acc, tAt + p, pooled);
                            ConvDirectKernels.transpose(acc, pAt + p * MR + VL, acc, tAt + VL * pooled + p, pooled);
                        }
                        long at = (((long) first + img) * m + (long) q * MR) * ph * pwid + (long) py * pwid;
                        ConvDirect.storeRuns(acc, tAt, pooled, pwid, Math.min(MR, m - q * MR), y, at, (long) ph * pwid, null,
                                Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, vectorStore);
                    }
                    have = Math.max(have, cHi);
                }
                ra += py1 - py0;
            }
        }
    }

    /** {@code acc[from .. from + n) = clamp(acc[same], lo, hi)} (n a multiple of VL); nothing for infinite bounds. */
    private static void clamp(float[] acc, int from, int n, float lo, float hi) {
        if (lo != Float.NEGATIVE_INFINITY) {
            FloatVector vlo = FloatVector.broadcast(S, lo);
            for (int i = from; i < from + n; i += VL) {
                FloatVector v = FloatVector.fromArray(S, acc, i);
                v.blend(vlo, v.compare(VectorOperators.LT, vlo)).intoArray(acc, i);
            }
        }
        if (hi != Float.POSITIVE_INFINITY) {
            FloatVector vhi = FloatVector.broadcast(S, hi);
            for (int i = from; i < from + n; i += VL) {
                FloatVector v = FloatVector.fromArray(S, acc, i);
                v.blend(vhi, v.compare(VectorOperators.GT, vhi)).intoArray(acc, i);
            }
        }
    }

    /**
     * {@code acc[v + i] = max over rows r in [cLo, cHi) of acc[ring + (r % kh) * slot + i]} for i &lt; n (a multiple
     * of VL); -inf when the range is empty.
     */
    private static void vertical(float[] acc, int ring, int slot, int kh, int cLo, int cHi, int n, int v) {
        if (cLo >= cHi) {
            Arrays.fill(acc, v, v + n, Float.NEGATIVE_INFINITY);
            return;
        }
        int s0 = ring + cLo % kh * slot;
        if (cHi - cLo == 1) {
            System.arraycopy(acc, s0, acc, v, n);
            return;
        }
        int s1 = ring + (cLo + 1) % kh * slot;
        for (int i = 0; i < n; i += VL) {
            FloatVector.fromArray(S, acc, s0 + i).max(FloatVector.fromArray(S, acc, s1 + i)).intoArray(acc, v + i);
        }
        for (int r = cLo + 2; r < cHi; r++) {
            int s = ring + r % kh * slot;
            for (int i = 0; i < n; i += VL) {
                FloatVector.fromArray(S, acc, v + i).max(FloatVector.fromArray(S, acc, s + i)).intoArray(acc, v + i);
            }
        }
    }

    /**
     * The pooled row of a window 3 columns wide at column stride 2 over the rows at slots s0, s1, s2 (a row may be
     * repeated: windows of 1 or 2 rows): {@code acc[p + px*MR + r] = max over c in [2px - pl, 2px - pl + 3) inside
     * [0, ow), s of acc[s + c*MR + r]}. Each column's vertical maximum is taken once and the last one carried to the
     * next pooled position.
     */
    private static void threeByTwo(float[] acc, int s0, int s1, int s2, int ow, int p, int pwid, int pl) {
        FloatVector ninf = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int c = -pl;
        FloatVector l0 = ninf;
        FloatVector l1 = ninf;
        if (c >= 0 && c < ow) {
            int o = c * MR;
            l0 = FloatVector.fromArray(S, acc, s0 + o).max(FloatVector.fromArray(S, acc, s1 + o)).max(FloatVector.fromArray(S, acc, s2 + o));
            l1 = FloatVector.fromArray(S, acc, s0 + o + VL).max(FloatVector.fromArray(S, acc, s1 + o + VL))
                    .max(FloatVector.fromArray(S, acc, s2 + o + VL));
        }
        for (int px = 0; px < pwid; px++, c += 2) {
            FloatVector m0 = ninf;
            FloatVector m1 = ninf;
            if (c + 1 >= 0 && c + 1 < ow) {
                int o = (c + 1) * MR;
                m0 = FloatVector.fromArray(S, acc, s0 + o).max(FloatVector.fromArray(S, acc, s1 + o)).max(FloatVector.fromArray(S, acc, s2 + o));
                m1 = FloatVector.fromArray(S, acc, s0 + o + VL).max(FloatVector.fromArray(S, acc, s1 + o + VL))
                        .max(FloatVector.fromArray(S, acc, s2 + o + VL));
            }
            FloatVector r0 = ninf;
            FloatVector r1 = ninf;
            if (c + 2 >= 0 && c + 2 < ow) {
                int o = (c + 2) * MR;
                r0 = FloatVector.fromArray(S, acc, s0 + o).max(FloatVector.fromArray(S, acc, s1 + o)).max(FloatVector.fromArray(S, acc, s2 + o));
                r1 = FloatVector.fromArray(S, acc, s0 + o + VL).max(FloatVector.fromArray(S, acc, s1 + o + VL))
                        .max(FloatVector.fromArray(S, acc, s2 + o + VL));
            }
            l0.max(m0).max(r0).intoArray(acc, p + px * MR);
            l1.max(m1).max(r1).intoArray(acc, p + px * MR + VL);
            l0 = r0;
            l1 = r1;
        }
    }

    /**
     * The pooled row {@code acc[p + px*MR + r] = max over columns c of acc[v + c*MR + r]}, c in
     * {@code [px*sw - pl, px*sw - pl + kw)} inside {@code [0, ow)} (-inf when none), for px &lt; pwid and r &lt; MR.
     */
    private static void horizontal(float[] acc, int v, int ow, int p, int pwid, int kw, int sw, int pl) {
        FloatVector ninf = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int px = 0; px < pwid; px++) {
            int c0 = px * sw - pl;
            int lo = Math.max(c0, 0);
            int hi = Math.min(c0 + kw, ow);
            FloatVector m0 = ninf;
            FloatVector m1 = ninf;
            for (int c = lo; c < hi; c++) {
                m0 = m0.max(FloatVector.fromArray(S, acc, v + c * MR));
                m1 = m1.max(FloatVector.fromArray(S, acc, v + c * MR + VL));
            }
            m0.intoArray(acc, p + px * MR);
            m1.intoArray(acc, p + px * MR + VL);
        }
    }
}
