package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.function.LongFunction;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * float32 convolution kernels on NCDHW data (1-D and 2-D convolutions are seen as 3-D with leading spatial dims of 1).
 *
 * <p>Conv: X [N, C, D, H, W], W [M, C/G, KD, KH, KW], bias [M] -> Y [N, M, OD, OH, OW], G groups, input read at
 * {@code o*s - padBegin + k*d} (zero outside). Paths:
 * <ul>
 *   <li>pointwise (1x1x1 kernel, stride 1, no padding): per image and group {@code Y_g[M/G, P] = W_g[M/G, C/G] x X_g[C/G, P]};</li>
 *   <li>depthwise (C/G == 1, D == KD == 1): a direct loop per output row, accumulating {@code w * X row} into a
 *       row buffer, vectorised over output width when the width stride is 1;</li>
 *   <li>otherwise im2col: per image and group a column buffer {@code col[(C/G)*KD*KH*KW, chunk]} of input patches
 *       for a chunk of output positions (bounded by {@link #COL_BUDGET} floats), then
 *       {@code Y_g[:, chunk] = W_g[M/G, (C/G)*K] x col} with {@link Sgemm}.</li>
 * </ul>
 * ConvTranspose: X [N, C, D, H, W], W [C, M/G, KD, KH, KW] -> Y [N, M, OD, OH, OW]: per image, group and chunk of
 * input positions {@code col[(M/G)*K, chunk] = W_g^T x X_g[C/G, chunk]} (Sgemm with transposed A), then col2im adds
 * each column entry into {@code Y[m, i*s - padBegin + k*d]} (Y starts as the bias).
 */
public final class ConvKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Most floats of scratch (im2col / col2im columns) one call uses. */
    public static final long COL_BUDGET = 1L << 21;
    /** Fewest output positions per chunk, whatever the patch size. */
    private static final long MIN_CHUNK = 64;

    private ConvKernels() {}

    /**
     * Shapes of one convolution: batch n, input channels c, output channels m, groups, and per spatial dim the
     * input size, kernel size, output size, stride, dilation and begin padding (may be negative for ConvTranspose).
     */
    public record Geometry(long n, long c, long m, long group, long[] in, long[] k, long[] out, long[] s, long[] d, long[] pb) {
        /** The same geometry with spatial dims padded in front to three (size 1, stride 1, no padding). */
        public Geometry to3d() {
            return new Geometry(n, c, m, group, lift(in, 1), lift(k, 1), lift(out, 1), lift(s, 1), lift(d, 1), lift(pb, 0));
        }

        private static long[] lift(long[] v, long fill) {
            long[] r = new long[3];
            int extra = 3 - v.length;
            for (int i = 0; i < 3; i++) {
                r[i] = i < extra ? fill : v[i - extra];
            }
            return r;
        }
    }

    /**
     * Conv on a 3-D geometry; {@code bias} may be null; {@code scratch} returns a segment of at least the given
     * number of floats.
     */
    public static void conv(LongFunction<MemorySegment> scratch, Geometry g, MemorySegment x, MemorySegment w,
                            MemorySegment bias, MemorySegment y) {
        int cg = Math.toIntExact(g.c / g.group);
        int mg = Math.toIntExact(g.m / g.group);
        long inSize = g.in[0] * g.in[1] * g.in[2];
        int p = Math.toIntExact(g.out[0] * g.out[1] * g.out[2]);
        long kSize = g.k[0] * g.k[1] * g.k[2];
        boolean pointwise = kSize == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[0] == 0 && g.pb[1] == 0
                && g.pb[2] == 0 && g.out[0] == g.in[0] && g.out[1] == g.in[1] && g.out[2] == g.in[2];
        if (cg == 1 && !pointwise && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1 && g.pb[0] == 0) {
            depthwise(g, x, w, bias, y);
            return;
        }
        int kdim = Math.toIntExact(cg * kSize);
        int chunk = (int) Math.min(p, Math.max(COL_BUDGET / Math.max(kdim, 1), MIN_CHUNK));
        MemorySegment col = pointwise ? null : scratch.apply((long) kdim * chunk);
        for (long n = 0; n < g.n; n++) {
            for (long grp = 0; grp < g.group; grp++) {
                long yOff = (n * g.m + grp * mg) * p;
                float beta = 0f;
                if (bias != null) {
                    fillRows(y, yOff, mg, p, bias, grp * mg);
                    beta = 1f;
                }
                long xOff = (n * g.c + grp * cg) * inSize;
                long wOff = grp * mg * (long) kdim;
                if (pointwise) {
                    Sgemm.sgemm(false, false, mg, p, cg, 1f, w, wOff, kdim, x, xOff, p, beta, y, yOff, p);
                    continue;
                }
                for (int p0 = 0; p0 < p; p0 += chunk) {
                    int len = Math.min(chunk, p - p0);
                    im2col(g, x, xOff, cg, p0, len, col);
                    Sgemm.sgemm(false, false, mg, len, kdim, 1f, w, wOff, kdim, col, 0, len, beta, y, yOff + p0, p);
                }
            }
        }
    }

    /** Sets {@code rows} rows of {@code len} floats at {@code off} to {@code bias[b0 + row]}. */
    private static void fillRows(MemorySegment y, long off, int rows, long len, MemorySegment bias, long b0) {
        for (int r = 0; r < rows; r++) {
            float v = bias == null ? 0f : bias.getAtIndex(Tensor.F32, b0 + r);
            long at = off + r * len;
            FloatVector vv = FloatVector.broadcast(S, v);
            long j = 0;
            for (; j <= len - VL; j += VL) {
                vv.intoMemorySegment(y, (at + j) * 4, LE);
            }
            for (; j < len; j++) {
                y.setAtIndex(Tensor.F32, at + j, v);
            }
        }
    }

    private static void zero(MemorySegment s, long from, long count) {
        if (count > 16) {
            s.asSlice(from * 4, count * 4).fill((byte) 0);
        } else {
            for (long i = 0; i < count; i++) {
                s.setAtIndex(Tensor.F32, from + i, 0f);
            }
        }
    }

    /** First t in [0, run) with {@code 0 <= start + t*step}, i.e. ceil(-start / step) clamped. */
    private static long firstInside(long start, long step, long run) {
        return Math.clamp(Math.ceilDiv(-start, step), 0, run);
    }

    /** One past the last t in [lo, run) with {@code start + t*step < size}. */
    private static long endInside(long start, long step, long size, long lo, long run) {
        return Math.clamp(Math.floorDiv(size - 1 - start, step) + 1, lo, run);
    }

    /** Fills {@code col[kdim, len]} with the input patches of output positions [p0, p0 + len) of one image and group. */
    private static void im2col(Geometry g, MemorySegment x, long xOff, int cg, long p0, int len, MemorySegment col) {
        long id0 = g.in[0];
        long ih0 = g.in[1];
        long iw0 = g.in[2];
        long oh = g.out[1];
        long ow = g.out[2];
        long plane = oh * ow;
        long row = 0;
        for (long ci = 0; ci < cg; ci++) {
            for (long kd = 0; kd < g.k[0]; kd++) {
                for (long kh = 0; kh < g.k[1]; kh++) {
                    for (long kw = 0; kw < g.k[2]; kw++, row++) {
                        long colRow = row * len;
                        long j = 0;
                        long pos = p0;
                        while (j < len) {
                            long od = pos / plane;
                            long rem = pos - od * plane;
                            long oy = rem / ow;
                            long ox = rem - oy * ow;
                            long run = Math.min(ow - ox, len - j);
                            long id = od * g.s[0] - g.pb[0] + kd * g.d[0];
                            long ih = oy * g.s[1] - g.pb[1] + kh * g.d[1];
                            if (id < 0 || id >= id0 || ih < 0 || ih >= ih0) {
                                zero(col, colRow + j, run);
                            } else {
                                long base = xOff + ((ci * id0 + id) * ih0 + ih) * iw0;
                                long start = ox * g.s[2] - g.pb[2] + kw * g.d[2];
                                long lo = firstInside(start, g.s[2], run);
                                long hi = endInside(start, g.s[2], iw0, lo, run);
                                zero(col, colRow + j, lo);
                                if (g.s[2] == 1 && hi > lo) {
                                    MemorySegment.copy(x, (base + start + lo) * 4, col, (colRow + j + lo) * 4, (hi - lo) * 4);
                                } else {
                                    for (long t = lo; t < hi; t++) {
                                        col.setAtIndex(Tensor.F32, colRow + j + t, x.getAtIndex(Tensor.F32, base + start + t * g.s[2]));
                                    }
                                }
                                zero(col, colRow + j + hi, run - hi);
                            }
                            j += run;
                            pos += run;
                        }
                    }
                }
            }
        }
    }

    /** Depthwise 1-D/2-D conv (one input channel per group): direct loop, one output row at a time. */
    private static void depthwise(Geometry g, MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y) {
        int mg = Math.toIntExact(g.m / g.group);
        long ih0 = g.in[1];
        long iw0 = g.in[2];
        int oh = Math.toIntExact(g.out[1]);
        int ow = Math.toIntExact(g.out[2]);
        long kh0 = g.k[1];
        long kw0 = g.k[2];
        long sh = g.s[1];
        long sw = g.s[2];
        float[] acc = new float[ow];
        for (long n = 0; n < g.n; n++) {
            for (long m = 0; m < g.m; m++) {
                long xBase = (n * g.c + m / mg) * ih0 * iw0;
                long yBase = (n * g.m + m) * (long) oh * ow;
                long wBase = m * kh0 * kw0;
                float b = bias == null ? 0f : bias.getAtIndex(Tensor.F32, m);
                for (int oy = 0; oy < oh; oy++) {
                    java.util.Arrays.fill(acc, b);
                    for (long kh = 0; kh < kh0; kh++) {
                        long ih = oy * sh - g.pb[1] + kh * g.d[1];
                        if (ih < 0 || ih >= ih0) {
                            continue;
                        }
                        long rowBase = xBase + ih * iw0;
                        for (long kw = 0; kw < kw0; kw++) {
                            float wv = w.getAtIndex(Tensor.F32, wBase + kh * kw0 + kw);
                            long start = -g.pb[2] + kw * g.d[2];
                            int lo = (int) firstInside(start, sw, ow);
                            int hi = (int) endInside(start, sw, iw0, lo, ow);
                            if (sw == 1) {
                                axpy(wv, x, rowBase + start, acc, lo, hi);
                            } else {
                                for (int t = lo; t < hi; t++) {
                                    acc[t] += wv * x.getAtIndex(Tensor.F32, rowBase + start + t * sw);
                                }
                            }
                        }
                    }
                    MemorySegment.copy(acc, 0, y, Tensor.F32, (yBase + (long) oy * ow) * 4, ow);
                }
            }
        }
    }

    /** {@code acc[t] += a * x[xOff + t]} for t in [lo, hi). */
    private static void axpy(float a, MemorySegment x, long xOff, float[] acc, int lo, int hi) {
        FloatVector av = FloatVector.broadcast(S, a);
        int t = lo;
        for (; t <= hi - VL; t += VL) {
            FloatVector.fromMemorySegment(S, x, (xOff + t) * 4, LE).fma(av, FloatVector.fromArray(S, acc, t)).intoArray(acc, t);
        }
        if (t < hi) {
            VectorMask<Float> m = S.indexInRange(t, hi);
            FloatVector.fromMemorySegment(S, x, (xOff + t) * 4, LE, m).fma(av, FloatVector.fromArray(S, acc, t, m)).intoArray(acc, t, m);
        }
    }

    /** ConvTranspose on a 3-D geometry (see the class comment); {@code bias} may be null. */
    public static void convTranspose(LongFunction<MemorySegment> scratch, Geometry g, MemorySegment x, MemorySegment w,
                                     MemorySegment bias, MemorySegment y) {
        int cg = Math.toIntExact(g.c / g.group);
        int mg = Math.toIntExact(g.m / g.group);
        int pin = Math.toIntExact(g.in[0] * g.in[1] * g.in[2]);
        long outSize = g.out[0] * g.out[1] * g.out[2];
        int rows = Math.toIntExact(mg * g.k[0] * g.k[1] * g.k[2]);
        int chunk = (int) Math.min(pin, Math.max(COL_BUDGET / Math.max(rows, 1), MIN_CHUNK));
        MemorySegment col = scratch.apply((long) rows * Math.max(chunk, 1));
        for (long n = 0; n < g.n; n++) {
            for (long grp = 0; grp < g.group; grp++) {
                long yOff = (n * g.m + grp * mg) * outSize;
                fillRows(y, yOff, mg, outSize, bias, grp * mg);
                long xOff = (n * g.c + grp * cg) * pin;
                long wOff = grp * cg * (long) rows;
                for (int p0 = 0; p0 < pin; p0 += chunk) {
                    int len = Math.min(chunk, pin - p0);
                    Sgemm.sgemm(true, false, rows, len, cg, 1f, w, wOff, rows, x, xOff + p0, pin, 0f, col, 0, len);
                    col2im(g, col, p0, len, y, yOff);
                }
            }
        }
    }

    /** Adds {@code col[(M/G)*K, len]} (input positions [p0, p0 + len)) into the group's output planes at {@code yOff}. */
    private static void col2im(Geometry g, MemorySegment col, long p0, int len, MemorySegment y, long yOff) {
        long od0 = g.out[0];
        long oh0 = g.out[1];
        long ow0 = g.out[2];
        long outSize = od0 * oh0 * ow0;
        long ih0 = g.in[1];
        long iw0 = g.in[2];
        long plane = ih0 * iw0;
        long kSize = g.k[0] * g.k[1] * g.k[2];
        long rows = (g.m / g.group) * kSize;
        for (long r = 0; r < rows; r++) {
            long mm = r / kSize;
            long kp = r - mm * kSize;
            long kd = kp / (g.k[1] * g.k[2]);
            long kh = (kp / g.k[2]) % g.k[1];
            long kw = kp % g.k[2];
            long colRow = r * len;
            long j = 0;
            long pos = p0;
            while (j < len) {
                long id = pos / plane;
                long rem = pos - id * plane;
                long iy = rem / iw0;
                long ix = rem - iy * iw0;
                long run = Math.min(iw0 - ix, len - j);
                long od = id * g.s[0] - g.pb[0] + kd * g.d[0];
                long oh = iy * g.s[1] - g.pb[1] + kh * g.d[1];
                if (od >= 0 && od < od0 && oh >= 0 && oh < oh0) {
                    long base = yOff + mm * outSize + (od * oh0 + oh) * ow0;
                    long start = ix * g.s[2] - g.pb[2] + kw * g.d[2];
                    long lo = firstInside(start, g.s[2], run);
                    long hi = endInside(start, g.s[2], ow0, lo, run);
                    if (g.s[2] == 1) {
                        addInto(col, colRow + j, y, base + start, lo, hi);
                    } else {
                        for (long t = lo; t < hi; t++) {
                            long at = base + start + t * g.s[2];
                            y.setAtIndex(Tensor.F32, at, y.getAtIndex(Tensor.F32, at) + col.getAtIndex(Tensor.F32, colRow + j + t));
                        }
                    }
                }
                j += run;
                pos += run;
            }
        }
    }

    /** {@code dst[dOff + t] += src[sOff + t]} for t in [lo, hi). */
    private static void addInto(MemorySegment src, long sOff, MemorySegment dst, long dOff, long lo, long hi) {
        long t = lo;
        for (; t <= hi - VL; t += VL) {
            FloatVector.fromMemorySegment(S, dst, (dOff + t) * 4, LE)
                    .add(FloatVector.fromMemorySegment(S, src, (sOff + t) * 4, LE))
                    .intoMemorySegment(dst, (dOff + t) * 4, LE);
        }
        for (; t < hi; t++) {
            dst.setAtIndex(Tensor.F32, dOff + t, dst.getAtIndex(Tensor.F32, dOff + t) + src.getAtIndex(Tensor.F32, sOff + t));
        }
    }
}
