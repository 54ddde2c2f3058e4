package dev.gatun.engine.ops;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 MaxPool with a 3x3 kernel, strides 2 and dilations 1 over 2-D planes (the ResNet stem's pooling), any pads
 * and ceil mode: {@code Y[p, oy, ox] = max_{kh, kw < 3} X[p, 2*oy + kh - pt, 2*ox + kw - pl]}, positions outside the
 * input ignored (read as -inf; a window wholly outside gives -inf).
 *
 * <p>Separable, one output row at a time: the vertical maxima {@code V[c] = max_kh X[2*oy + kh - pt, c]} over the
 * input rows inside the plane (plain vector loads straight from X, masked at the row's tail) go to a per-thread row
 * buffer at column {@code c + pl}, whose other columns hold -inf; then per vector of outputs from column ox0 the
 * even / odd lanes of two vector pairs of that row at columns {@code 2*ox0} and {@code 2*ox0 + 2} ({@code selectFrom})
 * give the three horizontal maxima, stored straight into Y (masked at the row's tail). No plane copy, no per-column
 * edge tests; each input row is read by at most two output rows.
 */
final class MaxPoolStride2 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector EVEN = indices(0);
    private static final FloatVector ODD = indices(1);
    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);

    private MaxPoolStride2() {}

    private static FloatVector indices(int first) {
        float[] f = new float[VL];
        for (int i = 0; i < VL; i++) {
            f[i] = 2 * i + first;
        }
        return FloatVector.fromArray(S, f, 0);
    }

    /** Whether this kernel handles the geometry: 2-D, kernel 3x3, strides 2, dilations 1. */
    static boolean applies(PoolGeometry g) {
        return g.rank == 2 && g.kernel[0] == 3 && g.kernel[1] == 3 && g.stride[0] == 2 && g.stride[1] == 2
                && g.dilation[0] == 1 && g.dilation[1] == 1 && g.out[0] > 0 && g.out[1] > 0;
    }

    /** Planes [from, to) of X [planes, ih, iw] into Y [planes, oh, ow]. */
    static void pool(PoolGeometry g, MemorySegment x, MemorySegment y, long from, long to) {
        int ih = g.in[0];
        int iw = g.in[1];
        int oh = g.out[0];
        int ow = g.out[1];
        int pt = g.padBegin[0];
        int pl = g.padBegin[1];
        int owPad = Math.ceilDiv(ow, VL) * VL;
        // Columns: the input at pl.., the last vector pair of the last output vector reaches 2*owPad + 1.
        int bw = Math.max(pl + iw, 2 * owPad + 2);
        float[] buf = scratch(bw);
        float ninf = Float.NEGATIVE_INFINITY;
        Arrays.fill(buf, 0, bw, ninf);
        int iwFull = iw / VL * VL;
        VectorMask<Float> inTail = S.indexInRange(iwFull, iw);
        int owFull = ow / VL * VL;
        VectorMask<Float> outTail = S.indexInRange(owFull, ow);
        for (long plane = from; plane < to; plane++) {
            long src = plane * ih * iw * 4;
            long dst = plane * oh * ow * 4;
            for (int oy = 0; oy < oh; oy++) {
                int r0 = 2 * oy - pt;
                int lo = Math.max(r0, 0);
                int hi = Math.min(r0 + 3, ih);
                if (lo >= hi) {
                    Arrays.fill(buf, pl, pl + iw, ninf);
                } else {
                    long at = src + (long) lo * iw * 4;
                    long rows = hi - lo;
                    long rb = iw * 4L;
                    for (int c = 0; c < iwFull; c += VL) {
                        long a = at + c * 4L;
                        FloatVector v = FloatVector.fromMemorySegment(S, x, a, LE);
                        if (rows > 1) {
                            v = v.max(FloatVector.fromMemorySegment(S, x, a + rb, LE));
                            if (rows > 2) {
                                v = v.max(FloatVector.fromMemorySegment(S, x, a + 2 * rb, LE));
                            }
                        }
                        v.intoArray(buf, pl + c);
                    }
                    if (iwFull < iw) {
                        long a = at + iwFull * 4L;
                        FloatVector v = FloatVector.fromMemorySegment(S, x, a, LE, inTail);
                        for (int r = 1; r < rows; r++) {
                            v = v.max(FloatVector.fromMemorySegment(S, x, a + r * rb, LE, inTail));
                        }
                        v.intoArray(buf, pl + iwFull, inTail);
                    }
                }
                long out = dst + (long) oy * ow * 4;
                for (int ox = 0; ox < owFull; ox += VL) {
                    row(buf, 2 * ox).intoMemorySegment(y, out + ox * 4L, LE);
                }
                if (owFull < ow) {
                    row(buf, 2 * owFull).intoMemorySegment(y, out + owFull * 4L, LE, outTail);
                }
            }
        }
    }

    /** Lane i: max of buffer columns q + 2i, q + 2i + 1, q + 2i + 2. */
    private static FloatVector row(float[] buf, int q) {
        FloatVector a0 = FloatVector.fromArray(S, buf, q);
        FloatVector a1 = FloatVector.fromArray(S, buf, q + VL);
        FloatVector a2 = FloatVector.fromArray(S, buf, q + 2);
        FloatVector a3 = FloatVector.fromArray(S, buf, q + 2 + VL);
        return EVEN.selectFrom(a0, a1).max(ODD.selectFrom(a0, a1)).max(EVEN.selectFrom(a2, a3));
    }

    private static float[] scratch(int floats) {
        float[] b = BUFFER.get();
        if (b.length < floats) {
            b = new float[floats];
            BUFFER.set(b);
        }
        return b;
    }
}
