package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
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
 *       first). Per panel and image, a task keeps a rolling window of at most kh convolution rows in its per-thread
 *       array, transposed to {@code [channel][slot*ow + ox]} (stride {@code kh*ow + TP + VL}): for pooled row py it
 *       drops the rows above {@code py*sh - pt} (moving the rest to slot 0), computes the rows it lacks below (one
 *       {@link ConvDirectKernels#kernel} call per 14 positions, then the 16 x 16 transposes), and pools. So each
 *       convolution row is computed once per task; only a task's first pooled row recomputes the halo rows it shares
 *       with the previous task.</li>
 *   <li>Pooling, per channel of the panel: the vertical maxima over the window's rows (each value clamped first, as
 *       the unfused store does, so that the result equals Conv then MaxPool bit for bit, -0.0 included) go into a
 *       per-thread row of -inf at column {@code c + pl}; the horizontal maxima are taken from it VL at a time for
 *       column stride 2 and kernel width at most 3 (even / odd lane selections, as {@code ops/MaxPoolStride2}), one by
 *       one otherwise; each pooled row is written to Y (NCHW) once.</li>
 * </ul>
 */
public final class ConvDirectPool {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final int MR = ConvDirect.MR;
    private static final int TP = ConvDirect.TP;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector EVEN = ConvDirectKernels.EVEN;
    private static final FloatVector ODD = odd();
    /** Per thread: one channel's vertical maxima with -inf around them. */
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    private ConvDirectPool() {}

    /**
     * A 2-D MaxPool window over the convolution's output (dilations 1): kernel kh x kw, strides sh, sw, leading pads
     * pt, pl, output oh x ow (computed by the caller from the ONNX attributes; trailing pads need no other care).
     */
    public record Window(int kh, int kw, int sh, int sw, int pt, int pl, int oh, int ow) {}

    private static FloatVector odd() {
        float[] f = new float[VL];
        for (int i = 0; i < VL; i++) {
            f[i] = 2 * i + 1;
        }
        return FloatVector.fromArray(S, f, 0);
    }

    /** Whether {@link ConvDirect#convPool} runs this convolution layout (one that {@link ConvDirect} suits) with this window. */
    public static boolean fits(PhaseLayout lay, int group, Window w) {
        return ConvDirect.TRANSPOSE && group == 1 && 2 * lay.ow != TP && w.kh >= 1 && w.kw >= 1 && w.sh >= 1 && w.sw >= 1
                && w.pt >= 0 && w.pl >= 0 && w.oh >= 1 && w.ow >= 1 && w.kh <= 16 && w.kw <= 64 && w.pl <= 1 << 16
                && (long) (w.ow - 1) * w.sw + w.kw <= 1 << 20 && (long) w.kh * lay.ow <= 1 << 16;
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
            int ph = win.oh;
            int kdim = pw.kdim();
            int m = pw.mg();
            int stride = win.kh * ow + TP + VL;
            float[] acc = PhaseLayout.scratch(ConvDirect.ACC, MR * stride);
            float[] tile = ConvDirect.TILE.get();
            int owPad = Math.ceilDiv(win.ow, VL) * VL;
            int rowFloats = Math.max(Math.max(win.pl + ow, 2 * owPad + 2), (win.ow - 1) * win.sw + win.kw) + VL;
            float[] row = PhaseLayout.scratch(ROW, rowFloats);
            Arrays.fill(row, 0, rowFloats, Float.NEGATIVE_INFINITY);
            float[] a = pw.a();
            float[] bias = pw.bias();
            for (int q = q0; q < q1; q++) {
                int ao = q * kdim * MR;
                int rowsOut = Math.min(MR, m - q * MR);
                for (int ra = r0; ra < r1; ) {
                    int img = ra / ph;
                    int py0 = ra - img * ph;
                    int py1 = Math.min(ph, py0 + r1 - ra);
                    long xImg = buf.address() + 4L * img * imgFloats;
                    // The window holds convolution rows [wLo, wHi) at slots 0 .. wHi - wLo.
                    int wLo = 0;
                    int wHi = 0;
                    for (int py = py0; py < py1; py++) {
                        int top = py * win.sh - win.pt;
                        int cLo = Math.max(top, 0);
                        int cHi = Math.min(top + win.kh, oh);
                        if (cLo < cHi) {
                            if (cLo >= wHi) {
                                wLo = cLo;
                                wHi = cLo;
                            } else if (cLo > wLo) {
                                int keep = (wHi - cLo) * ow;
                                for (int r = 0; r < rowsOut; r++) {
                                    System.arraycopy(acc, r * stride + (cLo - wLo) * ow, acc, r * stride, keep);
                                }
                                wLo = cLo;
                            }
                            for (int oy = wHi; oy < cHi; oy++) {
                                for (int ox = 0; ox < ow; ox += TP) {
                                    int pos = (oy - wLo) * ow + ox;
                                    ConvDirectKernels.kernel(a, ao, xImg + 4L * (oy * wq + ox), koff, kdim, bias, q * MR, tile, 0);
                                    ConvDirectKernels.transpose(tile, 0, acc, pos, stride);
                                    ConvDirectKernels.transpose(tile, VL, acc, VL * stride + pos, stride);
                                }
                            }
                            wHi = Math.max(wHi, cHi);
                        }
                        long at = (((long) first + img) * m + (long) q * MR) * ph * win.ow + (long) py * win.ow;
                        pool(acc, stride, (cLo - wLo) * ow, Math.max(cHi - cLo, 0), rowsOut, ow, row, at);
                    }
                    ra += py1 - py0;
                }
            }
        }

        /**
         * One pooled row of channels [0, rows) of the panel from the window's rows [s0, s0 + nRows) (floats from
         * {@code s0} in each channel's run) into Y at float {@code at} (channel r at {@code at + r*oh*ow}).
         */
        private void pool(float[] acc, int stride, int s0, int nRows, int rows, int ow, float[] row, long at) {
            int pl = win.pl;
            int pw = win.ow;
            int full = ow / VL * VL;
            VectorMask<Float> inTail = S.indexInRange(full, ow);
            int pwFull = pw / VL * VL;
            VectorMask<Float> outTail = S.indexInRange(pwFull, pw);
            boolean vector = win.sw == 2 && win.kw <= 3;
            long plane = (long) win.oh * pw;
            FloatVector vlo = FloatVector.broadcast(S, lo);
            FloatVector vhi = FloatVector.broadcast(S, hi);
            for (int r = 0; r < rows; r++) {
                int base = r * stride + s0;
                if (nRows > 0) {
                    for (int c = 0; c < full; c += VL) {
                        FloatVector v = FloatVector.fromArray(S, acc, base + c);
                        v = v.blend(vlo, v.compare(VectorOperators.LT, vlo));
                        v = v.blend(vhi, v.compare(VectorOperators.GT, vhi));
                        for (int i = 1; i < nRows; i++) {
                            FloatVector u = FloatVector.fromArray(S, acc, base + i * ow + c);
                            u = u.blend(vlo, u.compare(VectorOperators.LT, vlo));
                            u = u.blend(vhi, u.compare(VectorOperators.GT, vhi));
                            v = v.max(u);
                        }
                        v.intoArray(row, pl + c);
                    }
                    if (full < ow) {
                        FloatVector v = FloatVector.fromArray(S, acc, base + full);
                        v = v.blend(vlo, v.compare(VectorOperators.LT, vlo));
                        v = v.blend(vhi, v.compare(VectorOperators.GT, vhi));
                        for (int i = 1; i < nRows; i++) {
                            FloatVector u = FloatVector.fromArray(S, acc, base + i * ow + full);
                            u = u.blend(vlo, u.compare(VectorOperators.LT, vlo));
                            u = u.blend(vhi, u.compare(VectorOperators.GT, vhi));
                            v = v.max(u);
                        }
                        v.intoArray(row, pl + full, inTail);
                    }
                } else {
                    Arrays.fill(row, pl, pl + ow, Float.NEGATIVE_INFINITY);
                }
                long out = (at + r * plane) * 4;
                if (vector) {
                    for (int ox = 0; ox < pwFull; ox += VL) {
                        horizontal(row, 2 * ox, win.kw).intoMemorySegment(y, out + 4L * ox, LE);
                    }
                    if (pwFull < pw) {
                        horizontal(row, 2 * pwFull, win.kw).intoMemorySegment(y, out + 4L * pwFull, LE, outTail);
                    }
                } else {
                    for (int ox = 0; ox < pw; ox++) {
                        float v = row[ox * win.sw];
                        for (int j = 1; j < win.kw; j++) {
                            v = Math.max(v, row[ox * win.sw + j]);
                        }
                        y.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, out / 4 + ox, v);
                    }
                }
            }
        }
    }

    /** Lane i: the max of row columns q + 2i + j for j &lt; kw (kw at most 3). */
    private static FloatVector horizontal(float[] row, int q, int kw) {
        FloatVector a0 = FloatVector.fromArray(S, row, q);
        FloatVector a1 = FloatVector.fromArray(S, row, q + VL);
        FloatVector v = EVEN.selectFrom(a0, a1);
        if (kw >= 2) {
            v = v.max(ODD.selectFrom(a0, a1));
        }
        if (kw >= 3) {
            v = v.max(EVEN.selectFrom(FloatVector.fromArray(S, row, q + 2), FloatVector.fromArray(S, row, q + 2 + VL)));
        }
        return v;
    }
}
