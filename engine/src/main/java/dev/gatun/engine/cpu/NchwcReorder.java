package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Moves between NCHW and the blocked layout {@link Nchwc} (16 channels a block), and reduces blocked planes.
 *
 * <ul>
 *   <li>{@link #toBlocked}: x [N, C, P] (P = H*W positions) -> y [N, CB, P, 16], {@code y[n][c/16][p][c%16] =
 *       x[n][c][p]}, pad lanes 0;</li>
 *   <li>{@link #fromBlocked}: the inverse, pad lanes dropped;</li>
 *   <li>{@link #globalAveragePool}: x [N, CB, P, 16] -> y [N, C] (ONNX GlobalAveragePool's [N, C, 1, 1]),
 *       {@code y[n][c] = (sum_p x[n][c/16][p][c%16]) / P}, the sum in position order.</li>
 * </ul>
 * Each (image, block) pair is one task. With 16-lane vectors the reorders move full 16 x 16 squares through
 * {@link SquareTranspose#square16} (absolute addresses, so the extents are checked once per call here) and the
 * partial squares (the last positions, a block with pad lanes) element by element; the results are the same bits
 * either way (a reorder only moves values).
 */
public final class NchwcReorder {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final int B = Nchwc.BLOCK;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private NchwcReorder() {}

    /** y [N, CB, P, 16] = x [N, C, P] blocked, pad lanes 0. */
    public static void toBlocked(KernelContext ctx, MemorySegment x, MemorySegment y, int n, int c, long p) {
        move(ctx, x, y, n, c, p, true);
    }

    /** y [N, C, P] = x [N, CB, P, 16] unblocked. */
    public static void fromBlocked(KernelContext ctx, MemorySegment x, MemorySegment y, int n, int c, long p) {
        move(ctx, x, y, n, c, p, false);
    }

    private static void move(KernelContext ctx, MemorySegment x, MemorySegment y, int n, int c, long p, boolean in) {
        int cb = Nchwc.blocks(c);
        long plain = (long) n * c * p * Float.BYTES;
        long blocked = (long) n * cb * p * B * Float.BYTES;
        if (x.byteSize() < (in ? plain : blocked) || y.byteSize() < (in ? blocked : plain)) {
            throw new IllegalArgumentException("reorder of [" + n + ", " + c + ", " + p + "]: buffers of " + x.byteSize()
                    + " and " + y.byteSize() + " bytes are too small");
        }
        int tasks = n * cb;
        if (tasks == 0 || p == 0) {
            return;
        }
        if (tasks == 1 || (long) tasks * p * B < 16384) {
            for (int t = 0; t < tasks; t++) {
                moveBlock(x, y, t / cb, t % cb, c, cb, p, in);
            }
            return;
        }
        Region r = REGION.get();
        r.set(x, y, c, cb, p, in, tasks, tasks, false);
        try {
            ctx.parallelFor(tasks, r);
        } finally {
            r.set(null, null, 0, 0, 0, false, 0, 0, false);
        }
    }

    /**
     * The tasks of a parallel reorder or pool: a reused object (one per calling thread, fields set before the region
     * and cleared after) rather than a capturing lambda, so that a warm run allocates nothing. Part t of
     * {@code parts} runs the (image, block) pairs [tasks * t / parts, tasks * (t + 1) / parts).
     */
    private static final class Region implements java.util.function.IntConsumer {
        private MemorySegment x, y;
        private int c, cb, tasks, parts;
        private long p;
        private boolean in, pool;

        void set(MemorySegment x, MemorySegment y, int c, int cb, long p, boolean in, int tasks, int parts, boolean pool) {
            this.x = x;
            this.y = y;
            this.c = c;
            this.cb = cb;
            this.p = p;
            this.in = in;
            this.tasks = tasks;
            this.parts = parts;
            this.pool = pool;
        }

        @Override
        public void accept(int part) {
            for (int t = (int) ((long) tasks * part / parts); t < (long) tasks * (part + 1) / parts; t++) {
                if (pool) {
                    poolBlock(x, y, t / cb, t % cb, c, cb, p);
                } else {
                    moveBlock(x, y, t / cb, t % cb, c, cb, p, in);
                }
            }
        }
    }

    private static final ThreadLocal<Region> REGION = ThreadLocal.withInitial(Region::new);

    /** One (image, block): full squares in registers, the rest element by element. */
    private static void moveBlock(MemorySegment x, MemorySegment y, int img, int blk, int c, int cb, long p, boolean in) {
        int lanes = Math.min(B, c - blk * B);
        long plainBase = ((long) img * c + (long) blk * B) * p;
        long blockedBase = ((long) img * cb + blk) * p * B;
        long squares = VL == B && lanes == B ? p / B * B : 0;
        if (squares > 0) {
            MemorySegment plain = in ? x : y;
            MemorySegment blocked = in ? y : x;
            long pa = plain.address() + plainBase * Float.BYTES;
            long ba = blocked.address() + blockedBase * Float.BYTES;
            long planeBytes = p * Float.BYTES;
            for (long q = 0; q < squares; q += B) {
                if (in) {
                    SquareTranspose.square16(pa + q * Float.BYTES, planeBytes, ba + q * B * Float.BYTES, (long) B * Float.BYTES);
                } else {
                    SquareTranspose.square16(ba + q * B * Float.BYTES, (long) B * Float.BYTES, pa + q * Float.BYTES, planeBytes);
                }
            }
        }
        for (long q = squares; q < p; q++) {
            for (int l = 0; l < B; l++) {
                long bi = blockedBase + q * B + l;
                if (l >= lanes) {
                    if (in) {
                        y.setAtIndex(F, bi, 0f);
                    }
                    continue;
                }
                long pi = plainBase + l * p + q;
                if (in) {
                    y.setAtIndex(F, bi, x.getAtIndex(F, pi));
                } else {
                    y.setAtIndex(F, pi, x.getAtIndex(F, bi));
                }
            }
        }
    }

    /** y [N, C] = the mean over P of blocked x [N, CB, P, 16], summed in position order. */
    public static void globalAveragePool(KernelContext ctx, MemorySegment x, MemorySegment y, int n, int c, long p) {
        int cb = Nchwc.blocks(c);
        int tasks = n * cb;
        if (tasks == 0) {
            return;
        }
        if (tasks < 8 || (long) tasks * p * B < 65536) {
            for (int t = 0; t < tasks; t++) {
                poolBlock(x, y, t / cb, t % cb, c, cb, p);
            }
            return;
        }
        int parts = Math.min(tasks, 4 * ctx.threads());
        Region r = REGION.get();
        r.set(x, y, c, cb, p, false, tasks, parts, true);
        try {
            ctx.parallelFor(parts, r);
        } finally {
            r.set(null, null, 0, 0, 0, false, 0, 0, false);
        }
    }

    private static void poolBlock(MemorySegment x, MemorySegment y, int img, int blk, int c, int cb, long p) {
        int lanes = Math.min(B, c - blk * B);
        long base = ((long) img * cb + blk) * p * B;
        long out = (long) img * c + (long) blk * B;
        float div = (float) p;
        if (VL == B) {
            FloatVector acc = FloatVector.zero(S);
            for (long q = 0; q < p; q++) {
                acc = acc.add(FloatVector.fromMemorySegment(S, x, (base + q * B) * Float.BYTES, LE));
            }
            acc = acc.div(div);
            if (lanes == B) {
                acc.intoMemorySegment(y, out * Float.BYTES, LE);
            } else {
                acc.intoMemorySegment(y, out * Float.BYTES, LE, VectorMask.fromLong(S, (1L << lanes) - 1));
            }
            return;
        }
        for (int l = 0; l < lanes; l++) {
            float s = 0f;
            for (long q = 0; q < p; q++) {
                s += x.getAtIndex(F, base + q * B + l);
            }
            y.setAtIndex(F, out + l, s / div);
        }
    }
}
