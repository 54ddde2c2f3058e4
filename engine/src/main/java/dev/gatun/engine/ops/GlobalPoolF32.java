package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 GlobalAveragePool / GlobalMaxPool over contiguous planes: {@code y[p] = mean (or max) of x[p*size ..
 * (p+1)*size)}, planes [from, to) (NCHW: a plane is one (image, channel)).
 *
 * <p>Chunks of planes (about 64 KB) are copied to a per-thread heap array in one bulk copy. With 16-lane vectors,
 * means of planes of at most 1024 floats take sixteen planes at a time: each plane is folded into one vector of partial sums (its full vectors in
 * order, then its tail under a mask that leaves the other lanes as they are) and parked in a 16 x 16 array; the sixteen vectors
 * are then reduced together by a transposing tree: four levels in which pairs of vectors exchange halves, quarters,
 * eighths and single lanes (two two-vector shuffles and one add per pair, 15 pairs), which leaves plane q's total
 * in lane q, so sixteen means are one division and one store. A plane's lanes are combined by the same tree
 * wherever it sits in its group (a last group of fewer planes is padded with zero vectors), so equal planes give
 * equal results. For ResNet's and MobileNetV2's 7x7 planes (49 floats: 3 vectors and a 1-lane tail) the tree
 * replaces 15 scalar lane sums per plane. Maxima, larger planes and other vector lengths fold each plane into one
 * vector and combine its lanes in order.
 */
final class GlobalPoolF32 {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /**
     * The tree's two-vector permutes as index vectors for {@code FloatVector.selectFrom(v, w)} (one vpermi2ps; the
     * same permute as {@code rearrange(VectorShuffle, w)}, which C2 does not compile to it: the tree ran 36 us for
     * ResNet-18's 512 planes, 3 us this way), level by level (half widths 8, 4, 2, 1): low and high halves of each
     * lane pair.
     */
    private static final FloatVector LO8 = tree(8, 0), HI8 = tree(8, 8), LO4 = tree(4, 0), HI4 = tree(4, 4),
            LO2 = tree(2, 0), HI2 = tree(2, 2), LO1 = tree(1, 0), HI1 = tree(1, 1);
    /** Per-thread arrays: the planes' copy, the results, the parked partial-sum vectors (grown, reused). */
    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0], new float[L * L]});

    private GlobalPoolF32() {}

    /**
     * The shuffle of one tree level for 16 lanes: result lane j is partial {@code j % h + shift} of the
     * {@code j / h}-th plane block, blocks of the first vector (each {@code 2h} lanes) before those of the second.
     */
    private static FloatVector tree(int h, int shift) {
        if (L != 16) {
            return null;
        }
        float[] idx = new float[L];
        int perVector = L / (2 * h);
        for (int j = 0; j < L; j++) {
            int r = j / h;
            int i = j % h;
            idx[j] = r < perVector ? r * 2 * h + i + shift : L + (r - perVector) * 2 * h + i + shift;
        }
        return FloatVector.fromArray(SP, idx, 0);
    }

    /** Max ({@code max}) or mean of each plane of {@code size} floats of x, planes [from, to), into y[plane]. */
    static void planes(boolean max, MemorySegment x, MemorySegment y, long from, long to, int size) {
        boolean sixteen = L == 16 && !max && size <= 1024;
        int per = sixteen ? Math.max(L, (1 << 14) / size / L * L) : Math.max(1, (1 << 14) / size);
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < per * size) {
            scratch[0] = new float[per * size];
        }
        if (scratch[1].length < per) {
            scratch[1] = new float[per];
        }
        float[] buf = scratch[0];
        float[] res = scratch[1];
        float[] part = scratch[2];
        for (long p0 = from; p0 < to; p0 += per) {
            int count = (int) Math.min(per, to - p0);
            MemorySegment.copy(x, Tensor.F32, p0 * size * 4, buf, 0, count * size);
            if (sixteen) {
                for (int g = 0; g < count; g += L) {
                    fold(buf, g * size, Math.min(L, count - g), size, part);
                    tree(part, size, res, g);
                }
            } else {
                for (int q = 0; q < count; q++) {
                    res[q] = lanes(max, buf, q * size, size);
                }
            }
            MemorySegment.copy(res, 0, y, Tensor.F32, p0 * 4, count);
        }
    }

    /**
     * Sums {@code planes} planes at {@code buf[at + q*size]} into {@code part[q*L ..]} (one vector of partial sums
     * each) and zeroes the rest of the L vectors.
     */
    private static void fold(float[] buf, int at, int planes, int size, float[] part) {
        int full = size - size % L;
        VectorMask<Float> tail = SP.indexInRange(full, size);
        FloatVector zero = FloatVector.zero(SP);
        for (int q = 0; q < planes; q++) {
            int b = at + q * size;
            FloatVector a = zero;
            for (int i = 0; i < full; i += L) {
                a = a.add(FloatVector.fromArray(SP, buf, b + i));
            }
            a.add(FloatVector.fromArray(SP, buf, b + full, tail), tail).intoArray(part, q * L);
        }
        for (int q = planes; q < L; q++) {
            zero.intoArray(part, q * L);
        }
    }

    /** The transposing tree over the 16 parked vectors (see the class comment): mean q to {@code res[at + q]}. */
    private static void tree(float[] part, int size, float[] res, int at) {
        FloatVector v0 = FloatVector.fromArray(SP, part, 0);
        FloatVector v1 = FloatVector.fromArray(SP, part, 16);
        FloatVector v2 = FloatVector.fromArray(SP, part, 32);
        FloatVector v3 = FloatVector.fromArray(SP, part, 48);
        FloatVector v4 = FloatVector.fromArray(SP, part, 64);
        FloatVector v5 = FloatVector.fromArray(SP, part, 80);
        FloatVector v6 = FloatVector.fromArray(SP, part, 96);
        FloatVector v7 = FloatVector.fromArray(SP, part, 112);
        FloatVector v8 = FloatVector.fromArray(SP, part, 128);
        FloatVector v9 = FloatVector.fromArray(SP, part, 144);
        FloatVector v10 = FloatVector.fromArray(SP, part, 160);
        FloatVector v11 = FloatVector.fromArray(SP, part, 176);
        FloatVector v12 = FloatVector.fromArray(SP, part, 192);
        FloatVector v13 = FloatVector.fromArray(SP, part, 208);
        FloatVector v14 = FloatVector.fromArray(SP, part, 224);
        FloatVector v15 = FloatVector.fromArray(SP, part, 240);
        FloatVector c0 = LO8.selectFrom(v0, v1).add(HI8.selectFrom(v0, v1));
        FloatVector c1 = LO8.selectFrom(v2, v3).add(HI8.selectFrom(v2, v3));
        FloatVector c2 = LO8.selectFrom(v4, v5).add(HI8.selectFrom(v4, v5));
        FloatVector c3 = LO8.selectFrom(v6, v7).add(HI8.selectFrom(v6, v7));
        FloatVector c4 = LO8.selectFrom(v8, v9).add(HI8.selectFrom(v8, v9));
        FloatVector c5 = LO8.selectFrom(v10, v11).add(HI8.selectFrom(v10, v11));
        FloatVector c6 = LO8.selectFrom(v12, v13).add(HI8.selectFrom(v12, v13));
        FloatVector c7 = LO8.selectFrom(v14, v15).add(HI8.selectFrom(v14, v15));
        FloatVector e0 = LO4.selectFrom(c0, c1).add(HI4.selectFrom(c0, c1));
        FloatVector e1 = LO4.selectFrom(c2, c3).add(HI4.selectFrom(c2, c3));
        FloatVector e2 = LO4.selectFrom(c4, c5).add(HI4.selectFrom(c4, c5));
        FloatVector e3 = LO4.selectFrom(c6, c7).add(HI4.selectFrom(c6, c7));
        FloatVector f0 = LO2.selectFrom(e0, e1).add(HI2.selectFrom(e0, e1));
        FloatVector f1 = LO2.selectFrom(e2, e3).add(HI2.selectFrom(e2, e3));
        FloatVector r = LO1.selectFrom(f0, f1).add(HI1.selectFrom(f0, f1));
        r.div(size).intoArray(res, at, SP.indexInRange(at, res.length));
    }

    /** One plane folded into a vector, its lanes combined in order (vector lengths other than 16). */
    private static float lanes(boolean max, float[] buf, int b, int size) {
        int i = 0;
        float r = max ? Float.NEGATIVE_INFINITY : 0f;
        if (size >= L) {
            FloatVector a = FloatVector.fromArray(SP, buf, b);
            if (max) {
                for (i = L; i <= size - L; i += L) {
                    a = a.max(FloatVector.fromArray(SP, buf, b + i));
                }
                r = a.reduceLanes(VectorOperators.MAX);
            } else {
                for (i = L; i <= size - L; i += L) {
                    a = a.add(FloatVector.fromArray(SP, buf, b + i));
                }
                for (int l = 0; l < L; l++) {
                    r += a.lane(l);
                }
            }
        }
        for (; i < size; i++) {
            r = max ? Math.max(r, buf[b + i]) : r + buf[b + i];
        }
        return max ? r : r / size;
    }
}
