package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.LongFunction;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * float32 convolution kernels on NCDHW data for what {@link ConvGemm} and {@link DepthwiseConv} do not take (3-D
 * convolutions, 2-D ones whose phase layout would be mostly garbage), and ConvTranspose. 1-D and 2-D geometries are
 * seen as 3-D with leading spatial dims of 1.
 *
 * <p>Conv: X [N, C, D, H, W], W [M, C/G, KD, KH, KW], bias [M] -> Y [N, M, OD, OH, OW], G groups, input read at
 * {@code o*s - padBegin + k*d} (zero outside). Paths:
 * <ul>
 *   <li>pointwise (1x1x1 kernel, stride 1, no padding): per image, group and chunk of positions
 *       {@code Y_g[M/G, chunk] = W_g[M/G, C/G] x X_g[C/G, chunk]};</li>
 *   <li>otherwise im2col: per image, group and chunk of output positions a column buffer
 *       {@code col[(C/G)*KD*KH*KW, chunk]} of input patches (bounded by {@link #COL_BUDGET} floats), then
 *       {@code Y_g[:, chunk] = W_g[M/G, (C/G)*K] x col} with {@link Sgemm}.</li>
 * </ul>
 * The {@link ConvEpilogue} is applied to each chunk after its GEMM.
 * ConvTranspose: X [N, C, D, H, W], W [C, M/G, KD, KH, KW] -> Y [N, M, OD, OH, OW]: per image, group, block of output
 * channels and chunk of input positions {@code col[mb*K, chunk] = W_g[:, block]^T x X_g[C/G, chunk]} (Sgemm with
 * transposed A), then col2im adds each column entry into {@code Y[m, i*s - padBegin + k*d]} (Y starts as the bias).
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
     * Conv on a 3-D geometry through im2col + {@link Sgemm}, then the epilogue; {@code bias} may be null;
     * {@code scratch} returns a segment of at least the given number of floats. Work items are (image, group, chunk
     * of output positions) with chunks fixed by the geometry, so results do not depend on the thread count; each
     * running task takes one column buffer from a pool of at most {@code threads} buffers.
     */
    public static void conv(KernelContext ctx, LongFunction<MemorySegment> scratch, Geometry g, MemorySegment x,
                            MemorySegment w, MemorySegment bias, MemorySegment y, ConvEpilogue ep) {
        int cg = Math.toIntExact(g.c / g.group);
        int mg = Math.toIntExact(g.m / g.group);
        long inSize = g.in[0] * g.in[1] * g.in[2];
        int p = Math.toIntExact(g.out[0] * g.out[1] * g.out[2]);
        long kSize = g.k[0] * g.k[1] * g.k[2];
        boolean pointwise = kSize == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[0] == 0 && g.pb[1] == 0
                && g.pb[2] == 0 && g.out[0] == g.in[0] && g.out[1] == g.in[1] && g.out[2] == g.in[2];
        int kdim = Math.toIntExact(cg * kSize);
        int chunk = (int) Math.min(p, Math.max(COL_BUDGET / Math.max(kdim, 1), MIN_CHUNK));
        int chunks = Math.ceilDiv(p, chunk);
        long items = g.n * g.group * chunks;
        int tasks = Math.toIntExact(items);
        ConcurrentLinkedQueue<MemorySegment> cols = new ConcurrentLinkedQueue<>();
        if (!pointwise) {
            for (int i = 0; i < Math.min(tasks, Math.max(1, ctx.threads())); i++) {
                cols.add(scratch.apply((long) kdim * chunk));
            }
        }
        ctx.parallelFor(tasks, t -> {
            long ng = t / chunks;
            long n = ng / g.group;
            long grp = ng % g.group;
            int p0 = (t % chunks) * chunk;
            int len = Math.min(chunk, p - p0);
            long yOff = (n * g.m + grp * mg) * p + p0;
            float beta = 0f;
            if (bias != null) {
                fillRows(y, yOff, mg, p, len, bias, grp * mg);
                beta = 1f;
            }
            long xOff = (n * g.c + grp * cg) * inSize;
            long wOff = grp * mg * (long) kdim;
            if (pointwise) {
                Sgemm.sgemm(false, false, mg, len, cg, 1f, w, wOff, kdim, x, xOff + p0, p, beta, y, yOff, p);
            } else {
                MemorySegment col = cols.poll();
                try {
                    im2col(g, x, xOff, cg, p0, len, col);
                    Sgemm.sgemm(false, false, mg, len, kdim, 1f, w, wOff, kdim, col, 0, len, beta, y, yOff, p);
                } finally {
                    cols.add(col);
                }
            }
            if (!ep.isNone()) {
                for (int r = 0; r < mg; r++) {
                    applyEpilogue(y, yOff + (long) r * p, len, ep);
                }
            }
        });
    }

    /** {@code y[off + i] = ep(y[off + i])} for i &lt; len, the residual read at the same index. */
    static void applyEpilogue(MemorySegment y, long off, int len, ConvEpilogue ep) {
        MemorySegment res = ep.residual();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int i = 0;
        for (; i <= len - VL; i += VL) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, LE);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, res, at, LE));
            }
            if (ep.clamp()) {
                v = v.blend(lo, v.compare(VectorOperators.LT, lo));
                v = v.blend(hi, v.compare(VectorOperators.GT, hi));
            }
            v.intoMemorySegment(y, at, LE);
        }
        for (; i < len; i++) {
            long at = off + i;
            y.setAtIndex(Tensor.F32, at, ep.apply(y.getAtIndex(Tensor.F32, at), res == null ? 0f : res.getAtIndex(Tensor.F32, at)));
        }
    }

    /** Sets {@code rows} rows of {@code len} floats, {@code stride} apart from {@code off}, to {@code bias[b0 + row]}. */
    private static void fillRows(MemorySegment y, long off, int rows, long stride, long len, MemorySegment bias, long b0) {
        for (int r = 0; r < rows; r++) {
            float v = bias == null ? 0f : bias.getAtIndex(Tensor.F32, b0 + r);
            long at = off + r * stride;
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

    /**
     * ConvTranspose on a 3-D geometry (see the class comment); {@code bias} may be null. Work items are (image, group,
     * block of output channels): each owns its output planes, fixed by the geometry whatever the thread count.
     */
    public static void convTranspose(KernelContext ctx, LongFunction<MemorySegment> scratch, Geometry g, MemorySegment x,
                                     MemorySegment w, MemorySegment bias, MemorySegment y) {
        int cg = Math.toIntExact(g.c / g.group);
        int mg = Math.toIntExact(g.m / g.group);
        int pin = Math.toIntExact(g.in[0] * g.in[1] * g.in[2]);
        long outSize = g.out[0] * g.out[1] * g.out[2];
        int kSize = Math.toIntExact(g.k[0] * g.k[1] * g.k[2]);
        int mBlock = Math.max(Math.ceilDiv(mg, 8), Math.ceilDiv(2, kSize));
        int blocks = Math.ceilDiv(mg, mBlock);
        int rows = Math.min(mg, mBlock) * kSize;
        int chunk = (int) Math.min(pin, Math.max(COL_BUDGET / Math.max(rows, 1), MIN_CHUNK));
        int tasks = Math.toIntExact(g.n * g.group * blocks);
        ConcurrentLinkedQueue<MemorySegment> cols = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < Math.min(tasks, Math.max(1, ctx.threads())); i++) {
            cols.add(scratch.apply((long) rows * Math.max(chunk, 1)));
        }
        ctx.parallelFor(tasks, t -> {
            long ng = t / blocks;
            long n = ng / g.group;
            long grp = ng % g.group;
            int m0 = (t % blocks) * mBlock;
            int mb = Math.min(mBlock, mg - m0);
            long yOff = (n * g.m + grp * mg) * outSize;
            fillRows(y, yOff + m0 * outSize, mb, outSize, outSize, bias, grp * mg + m0);
            long xOff = (n * g.c + grp * cg) * pin;
            long wOff = grp * cg * (long) mg * kSize + (long) m0 * kSize;
            MemorySegment col = cols.poll();
            try {
                for (int p0 = 0; p0 < pin; p0 += chunk) {
                    int len = Math.min(chunk, pin - p0);
                    Sgemm.sgemm(true, false, mb * kSize, len, cg, 1f, w, wOff, mg * kSize, x, xOff + p0, pin, 0f, col, 0, len);
                    col2im(g, col, m0, mb, p0, len, y, yOff);
                }
            } finally {
                cols.add(col);
            }
        });
    }

    /**
     * Adds {@code col[mb*K, len]} (output channels [m0, m0 + mb) of the group, input positions [p0, p0 + len)) into
     * the group's output planes at {@code yOff}.
     */
    private static void col2im(Geometry g, MemorySegment col, long m0, int mb, long p0, int len, MemorySegment y, long yOff) {
        long od0 = g.out[0];
        long oh0 = g.out[1];
        long ow0 = g.out[2];
        long outSize = od0 * oh0 * ow0;
        long ih0 = g.in[1];
        long iw0 = g.in[2];
        long plane = ih0 * iw0;
        long kSize = g.k[0] * g.k[1] * g.k[2];
        long rows = mb * kSize;
        for (long r = 0; r < rows; r++) {
            long mm = m0 + r / kSize;
            long kp = r % kSize;
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
