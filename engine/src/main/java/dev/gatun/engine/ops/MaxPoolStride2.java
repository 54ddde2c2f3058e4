package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 MaxPool with a 3x3 kernel, strides 2 and dilations 1 over 2-D planes (the ResNet stem's pooling), any pads
 * and ceil mode: {@code Y[p, oy, ox] = max_{kh, kw < 3} X[p, 2*oy + kh - pt, 2*ox + kw - pl]}, positions outside the
 * input ignored (read as -inf).
 *
 * <p>Each plane is copied once into a per-thread heap buffer surrounded by -inf (input element (r, c) at buffer row
 * {@code r + pt}, column {@code c + pl}); output row oy then reads buffer rows {@code 2*oy .. 2*oy + 2} and, per vector
 * of outputs from column ox0, the even / odd lanes of two vector pairs at columns {@code 2*ox0} and {@code 2*ox0 + 2}
 * ({@code selectFrom}): nine maxima per output vector, no gathers and no per-column edge tests.
 */
final class MaxPoolStride2 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
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
        // Columns: the input at pl.., the last vector pair of the last output vector reaches 2*owPad + 1 + VL.
        int bw = Math.max(pl + iw, 2 * owPad + 2) + 2 * VL;
        int bh = Math.max(ih + pt, 2 * oh + 1);
        int rowOut = bh * bw;
        float[] buf = scratch(rowOut + owPad);
        float ninf = Float.NEGATIVE_INFINITY;
        for (long plane = from; plane < to; plane++) {
            Arrays.fill(buf, 0, rowOut, ninf);
            long src = plane * ih * iw;
            for (int r = 0; r < ih; r++) {
                MemorySegment.copy(x, Tensor.F32, (src + (long) r * iw) * 4, buf, (r + pt) * bw + pl, iw);
            }
            long dst = plane * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
                int r0 = 2 * oy * bw;
                for (int ox = 0; ox < ow; ox += VL) {
                    int q = r0 + 2 * ox;
                    FloatVector m = row(buf, q);
                    m = m.max(row(buf, q + bw));
                    m = m.max(row(buf, q + 2 * bw));
                    m.intoArray(buf, rowOut + ox);
                }
                MemorySegment.copy(buf, rowOut, y, Tensor.F32, (dst + (long) oy * ow) * 4, ow);
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
