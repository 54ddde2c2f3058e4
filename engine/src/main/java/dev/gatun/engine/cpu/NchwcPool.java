package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D MaxPool in the blocked layout {@link Nchwc}: X [N, CB, H, W, 16] -> Y [N, CB, OH, OW, 16],
 * {@code Y[n,b,oy,ox,l] = max over (ky, kx) of X[n, b, oy*sh - padTop + ky*dh, ox*sw - padLeft + kx*dw, l]} for the
 * window positions inside the input (ONNX MaxPool, https://onnx.ai/onnx/operators/onnx__MaxPool.html; a window
 * with no input position gives -inf). One vector is one position's 16 channels, so a window is KH*KW vector loads
 * and maxima; the maximum is {@code FloatVector}'s MAX (NaN wins, as Math.max). Tasks are runs of output rows of
 * all (image, block) planes; the scalar twin {@link #maxPoolScalar} gives the same values. Loads go through
 * {@link SgemmKernel#ALL} at absolute addresses after one check of X's extent per call: through X's own segment
 * every load paid a bounds and scope check the JIT did not hoist. A full 3x3 window inside the input is
 * straight-line code (nine loads, eight maxima); other windows keep their running maximum in Y (a vector carried
 * through the variable tap loops was kept boxed on the heap by C2): ResNet-18's 64 x 112x112 3x3/2, one thread,
 * CPU time, 195 -> 153 us (absolute addresses) -> 95 us (straight-line window), X read from L3 at ~34 GB/s.
 */
public final class NchwcPool {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int B = Nchwc.BLOCK;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Reads go through the all-memory segment at absolute addresses (X's extent is checked once per call). */
    private static final MemorySegment ALL = SgemmKernel.ALL;

    private NchwcPool() {}

    /** A pooling window's sizes: planes (images x blocks), input and output planes, kernel, strides, dilations, pads. */
    public record Window(int planes, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw, int dh, int dw,
                         int padTop, int padLeft) {}

    /** Y = the window maxima of blocked X (see the class comment); tasks over the intra-op threads. */
    public static void maxPool(KernelContext ctx, Window g, MemorySegment x, MemorySegment y) {
        long in = (long) g.planes() * g.h() * g.w() * B * Float.BYTES;
        long out = (long) g.planes() * g.oh() * g.ow() * B * Float.BYTES;
        if (x.byteSize() < in || y.byteSize() < out) {
            throw new IllegalArgumentException("MaxPool buffers of " + x.byteSize() + " and " + y.byteSize()
                    + " bytes are smaller than " + in + " and " + out);
        }
        if (S.length() != B) {
            maxPoolScalar(g, x, y);
            return;
        }
        int rows = g.planes() * g.oh();
        int tasks = ctx.threads() <= 1 || out < 65536 ? 1 : Math.min(rows, 4 * ctx.threads());
        if (tasks == 1) {
            rows(g, x, y, 0, rows);
            return;
        }
        Region r = REGION.get();
        r.set(g, x, y, rows, tasks);
        try {
            ctx.parallelFor(tasks, r);
        } finally {
            r.set(null, null, null, 0, 0);
        }
    }

    /**
     * Output rows [r0, r1) of all planes (row r: plane r / OH, output row r % OH). Per row the window's rows inside
     * the input are found once; positions whose window columns all lie inside run the unclipped loop.
     */
    private static void rows(Window g, MemorySegment x, MemorySegment y, int r0, int r1) {
        int h = g.h(), w = g.w(), kh = g.kh(), kw = g.kw(), sw = g.sw(), dw = g.dw(), pl = g.padLeft();
        long rowStride = (long) w * B * Float.BYTES;
        long tapStride = (long) dw * B * Float.BYTES;
        for (int r = r0; r < r1; r++) {
            int plane = r / g.oh();
            int oy = r % g.oh();
            int iy0 = oy * g.sh() - g.padTop();
            int ky0 = 0;
            int ky1 = kh;
            while (ky0 < ky1 && iy0 + ky0 * g.dh() < 0) {
                ky0++;
            }
            while (ky1 > ky0 && iy0 + (ky1 - 1) * g.dh() >= h) {
                ky1--;
            }
            long firstRow = x.address() + ((long) plane * h + iy0 + (long) ky0 * g.dh()) * rowStride;
            long rowStep = g.dh() * rowStride;
            long yRow = ((long) plane * g.oh() + oy) * g.ow() * B * Float.BYTES;
            boolean full3 = kh == 3 && kw == 3 && ky0 == 0 && ky1 == 3;
            long yAt = y.address() + yRow;
            for (int ox = 0; ox < g.ow(); ox++, yAt += (long) B * Float.BYTES) {
                int ix0 = ox * sw - pl;
                boolean inside = ix0 >= 0 && ix0 + (kw - 1) * dw < w;
                long at0 = firstRow + (long) ix0 * B * Float.BYTES;
                if (full3 && inside) {
                    long a1 = at0 + rowStep;
                    long a2 = a1 + rowStep;
                    FloatVector m0 = FloatVector.fromMemorySegment(S, ALL, at0, LE)
                            .max(FloatVector.fromMemorySegment(S, ALL, at0 + tapStride, LE))
                            .max(FloatVector.fromMemorySegment(S, ALL, at0 + 2 * tapStride, LE));
                    FloatVector m1 = FloatVector.fromMemorySegment(S, ALL, a1, LE)
                            .max(FloatVector.fromMemorySegment(S, ALL, a1 + tapStride, LE))
                            .max(FloatVector.fromMemorySegment(S, ALL, a1 + 2 * tapStride, LE));
                    FloatVector m2 = FloatVector.fromMemorySegment(S, ALL, a2, LE)
                            .max(FloatVector.fromMemorySegment(S, ALL, a2 + tapStride, LE))
                            .max(FloatVector.fromMemorySegment(S, ALL, a2 + 2 * tapStride, LE));
                    m0.max(m1).max(m2).intoMemorySegment(ALL, yAt, LE);
                    continue;
                }
                int kx0 = 0;
                int kx1 = kw;
                while (kx0 < kx1 && ix0 + kx0 * dw < 0) {
                    kx0++;
                }
                while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= w) {
                    kx1--;
                }
                edge(yAt, at0, ky1 - ky0, rowStep, kx0, kx1, tapStride);
            }
        }
    }

    /**
     * One output vector at {@code yAt} from the taps (ky, kx) for ky in [0, rows) and kx in [kx0, kx1) at
     * {@code at0 + ky*rowStep + kx*tapStride}, -inf when there are none. The running maximum lives in Y (L1), not in
     * a vector carried through the loops, which C2 kept boxed on the heap.
     */
    private static void edge(long yAt, long at0, int rows, long rowStep, int kx0, int kx1, long tapStride) {
        FloatVector.broadcast(S, Float.NEGATIVE_INFINITY).intoMemorySegment(ALL, yAt, LE);
        for (int ky = 0; ky < rows; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
                long at = at0 + ky * rowStep + kx * tapStride;
                FloatVector.fromMemorySegment(S, ALL, yAt, LE).max(FloatVector.fromMemorySegment(S, ALL, at, LE))
                        .intoMemorySegment(ALL, yAt, LE);
            }
        }
    }

    /** The scalar twin of {@link #maxPool}. */
    static void maxPoolScalar(Window g, MemorySegment x, MemorySegment y) {
        for (int plane = 0; plane < g.planes(); plane++) {
            for (int oy = 0; oy < g.oh(); oy++) {
                for (int ox = 0; ox < g.ow(); ox++) {
                    for (int l = 0; l < B; l++) {
                        float m = Float.NEGATIVE_INFINITY;
                        for (int ky = 0; ky < g.kh(); ky++) {
                            int iy = oy * g.sh() - g.padTop() + ky * g.dh();
                            for (int kx = 0; kx < g.kw(); kx++) {
                                int ix = ox * g.sw() - g.padLeft() + kx * g.dw();
                                if (iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w()) {
                                    m = Math.max(m, x.getAtIndex(F, (((long) plane * g.h() + iy) * g.w() + ix) * B + l));
                                }
                            }
                        }
                        y.setAtIndex(F, (((long) plane * g.oh() + oy) * g.ow() + ox) * B + l, m);
                    }
                }
            }
        }
    }

    /** The tasks of a parallel {@link #maxPool}: a reused object, so that a warm run allocates nothing. */
    private static final class Region implements java.util.function.IntConsumer {
        private Window g;
        private MemorySegment x, y;
        private int rows, tasks;

        void set(Window g, MemorySegment x, MemorySegment y, int rows, int tasks) {
            this.g = g;
            this.x = x;
            this.y = y;
            this.rows = rows;
            this.tasks = tasks;
        }

        @Override
        public void accept(int t) {
            rows(g, x, y, (int) ((long) rows * t / tasks), (int) ((long) rows * (t + 1) / tasks));
        }
    }

    private static final ThreadLocal<Region> REGION = ThreadLocal.withInitial(Region::new);
}
