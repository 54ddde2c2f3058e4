package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.cpu.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 vector loops shared by the reduction, softmax and normalisation families: sums of a contiguous run
 * (float lanes over blocks of {@value #BLOCK} elements, blocks added in double, so a long run keeps about
 * double-rounded accuracy), maxima, row-by-row accumulation into a float[] (for reductions over an outer axis),
 * and the affine/exp passes softmax and the normalisations write with. All offsets and lengths are in elements;
 * segments are read with the native byte order, as {@link dev.gatun.engine.tensor.Tensor#F32} does.
 */
final class ReduceKernels {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Elements summed in float lanes before the partial sum is added into a double. */
    static final int BLOCK = 1024;

    private ReduceKernels() {}

    static FloatVector load(MemorySegment s, long i) {
        return FloatVector.fromMemorySegment(SPECIES, s, i * 4, ORDER);
    }

    static void store(FloatVector v, MemorySegment s, long i) {
        v.intoMemorySegment(s, i * 4, ORDER);
    }

    /** Sum of {@code x[off .. off+n)}. */
    static double sum(MemorySegment s, long off, long n) {
        double total = 0;
        for (long b = 0; b < n; b += BLOCK) {
            int len = (int) Math.min(BLOCK, n - b);
            long base = off + b;
            FloatVector acc = FloatVector.zero(SPECIES);
            int bound = SPECIES.loopBound(len);
            int i = 0;
            for (; i < bound; i += LANES) {
                acc = acc.add(load(s, base + i));
            }
            acc = VectorMath.LANES > 8 ? acc.add(acc.rearrange(VectorMath.FOLD8)) : acc;
            acc = VectorMath.LANES > 4 ? acc.add(acc.rearrange(VectorMath.FOLD4)) : acc;
            acc = VectorMath.LANES > 2 ? acc.add(acc.rearrange(VectorMath.FOLD2)) : acc;
            float t = acc.add(acc.rearrange(VectorMath.FOLD1)).lane(0);
            for (; i < len; i++) {
                t += s.getAtIndex(F32, base + i);
            }
            total += t;
        }
        return total;
    }

    /** Sum of {@code |x|} over {@code x[off .. off+n)}. */
    static double sumAbs(MemorySegment s, long off, long n) {
        double total = 0;
        for (long b = 0; b < n; b += BLOCK) {
            int len = (int) Math.min(BLOCK, n - b);
            long base = off + b;
            FloatVector acc = FloatVector.zero(SPECIES);
            int bound = SPECIES.loopBound(len);
            int i = 0;
            for (; i < bound; i += LANES) {
                acc = acc.add(load(s, base + i).abs());
            }
            acc = VectorMath.LANES > 8 ? acc.add(acc.rearrange(VectorMath.FOLD8)) : acc;
            acc = VectorMath.LANES > 4 ? acc.add(acc.rearrange(VectorMath.FOLD4)) : acc;
            acc = VectorMath.LANES > 2 ? acc.add(acc.rearrange(VectorMath.FOLD2)) : acc;
            float t = acc.add(acc.rearrange(VectorMath.FOLD1)).lane(0);
            for (; i < len; i++) {
                t += Math.abs(s.getAtIndex(F32, base + i));
            }
            total += t;
        }
        return total;
    }

    /** Sum of {@code (x - c)^2} over {@code x[off .. off+n)} ({@code c = 0} gives the sum of squares). */
    static double sumSqDiff(MemorySegment s, long off, long n, float c) {
        double total = 0;
        FloatVector vc = FloatVector.broadcast(SPECIES, c);
        for (long b = 0; b < n; b += BLOCK) {
            int len = (int) Math.min(BLOCK, n - b);
            long base = off + b;
            FloatVector acc = FloatVector.zero(SPECIES);
            int bound = SPECIES.loopBound(len);
            int i = 0;
            for (; i < bound; i += LANES) {
                FloatVector d = load(s, base + i).sub(vc);
                acc = d.fma(d, acc);
            }
            acc = VectorMath.LANES > 8 ? acc.add(acc.rearrange(VectorMath.FOLD8)) : acc;
            acc = VectorMath.LANES > 4 ? acc.add(acc.rearrange(VectorMath.FOLD4)) : acc;
            acc = VectorMath.LANES > 2 ? acc.add(acc.rearrange(VectorMath.FOLD2)) : acc;
            float t = acc.add(acc.rearrange(VectorMath.FOLD1)).lane(0);
            for (; i < len; i++) {
                float d = s.getAtIndex(F32, base + i) - c;
                t += d * d;
            }
            total += t;
        }
        return total;
    }

    /** Largest of {@code x[off .. off+n)} (NaN if any is NaN; -inf when n is 0). */
    static float max(MemorySegment s, long off, long n) {
        FloatVector acc = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
        long bound = SPECIES.loopBound(n);
        long i = 0;
        for (; i < bound; i += LANES) {
            acc = acc.max(load(s, off + i));
        }
        float m = acc.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            m = Math.max(m, s.getAtIndex(F32, off + i));
        }
        return m;
    }

    /** Smallest of {@code x[off .. off+n)} (NaN if any is NaN; +inf when n is 0). */
    static float min(MemorySegment s, long off, long n) {
        FloatVector acc = FloatVector.broadcast(SPECIES, Float.POSITIVE_INFINITY);
        long bound = SPECIES.loopBound(n);
        long i = 0;
        for (; i < bound; i += LANES) {
            acc = acc.min(load(s, off + i));
        }
        float m = acc.reduceLanes(VectorOperators.MIN);
        for (; i < n; i++) {
            m = Math.min(m, s.getAtIndex(F32, off + i));
        }
        return m;
    }

    /** Sum of {@code exp(x - shift)} over {@code x[off .. off+n)}, optionally storing each term to {@code dst[dOff ..]}. */
    static double sumExp(MemorySegment s, long off, long n, float shift, MemorySegment dst, long dOff) {
        double total = 0;
        FloatVector vs = FloatVector.broadcast(SPECIES, shift);
        for (long b = 0; b < n; b += BLOCK) {
            int len = (int) Math.min(BLOCK, n - b);
            long base = off + b;
            long dBase = dOff + b;
            FloatVector acc = FloatVector.zero(SPECIES);
            int bound = SPECIES.loopBound(len);
            int i = 0;
            if (dst == null) {
                for (; i < bound; i += LANES) {
                    acc = acc.add(VectorMath.exp(load(s, base + i).sub(vs)));
                }
            } else {
                for (; i < bound; i += LANES) {
                    FloatVector e = VectorMath.exp(load(s, base + i).sub(vs));
                    store(e, dst, dBase + i);
                    acc = acc.add(e);
                }
            }
            acc = VectorMath.LANES > 8 ? acc.add(acc.rearrange(VectorMath.FOLD8)) : acc;
            acc = VectorMath.LANES > 4 ? acc.add(acc.rearrange(VectorMath.FOLD4)) : acc;
            acc = VectorMath.LANES > 2 ? acc.add(acc.rearrange(VectorMath.FOLD2)) : acc;
            float t = acc.add(acc.rearrange(VectorMath.FOLD1)).lane(0);
            for (; i < len; i++) {
                float e = (float) Math.exp(s.getAtIndex(F32, base + i) - shift);
                if (dst != null) {
                    dst.setAtIndex(F32, dBase + i, e);
                }
                t += e;
            }
            total += t;
        }
        return total;
    }

    /** {@code y[yOff + i] = x[xOff + i] * a + b} for i in [0, n) ({@code x} and {@code y} may be the same run). */
    static void affine(MemorySegment x, long xOff, MemorySegment y, long yOff, long n, float a, float b) {
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        FloatVector vb = FloatVector.broadcast(SPECIES, b);
        long bound = SPECIES.loopBound(n);
        long i = 0;
        for (; i < bound; i += LANES) {
            store(load(x, xOff + i).fma(va, vb), y, yOff + i);
        }
        for (; i < n; i++) {
            y.setAtIndex(F32, yOff + i, Math.fma(x.getAtIndex(F32, xOff + i), a, b));
        }
    }

    /** {@code y[yOff + i] = (x[xOff + i] - c) * a + b} for i in [0, n). */
    static void shiftScale(MemorySegment x, long xOff, MemorySegment y, long yOff, long n, float c, float a, float b) {
        FloatVector vc = FloatVector.broadcast(SPECIES, c);
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        FloatVector vb = FloatVector.broadcast(SPECIES, b);
        long bound = SPECIES.loopBound(n);
        long i = 0;
        for (; i < bound; i += LANES) {
            store(load(x, xOff + i).sub(vc).fma(va, vb), y, yOff + i);
        }
        for (; i < n; i++) {
            y.setAtIndex(F32, yOff + i, Math.fma(x.getAtIndex(F32, xOff + i) - c, a, b));
        }
    }

    /**
     * {@code y[yOff + i] = (x[xOff + i] - c) * a * scale[i] + bias[i]} for i in [0, n); {@code bias} may be null.
     * The per-element affine of LayerNormalization and RMSNormalization.
     */
    static void normalizeRow(MemorySegment x, long xOff, MemorySegment y, long yOff, int n, float c, float a,
                             float[] scale, float[] bias) {
        FloatVector vc = FloatVector.broadcast(SPECIES, c);
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        int bound = SPECIES.loopBound(n);
        int i = 0;
        if (bias == null) {
            for (; i < bound; i += LANES) {
                FloatVector v = load(x, xOff + i).sub(vc).mul(va);
                store(v.mul(FloatVector.fromArray(SPECIES, scale, i)), y, yOff + i);
            }
            for (; i < n; i++) {
                y.setAtIndex(F32, yOff + i, (x.getAtIndex(F32, xOff + i) - c) * a * scale[i]);
            }
        } else {
            for (; i < bound; i += LANES) {
                FloatVector v = load(x, xOff + i).sub(vc).mul(va);
                store(v.fma(FloatVector.fromArray(SPECIES, scale, i), FloatVector.fromArray(SPECIES, bias, i)), y, yOff + i);
            }
            for (; i < n; i++) {
                y.setAtIndex(F32, yOff + i, Math.fma((x.getAtIndex(F32, xOff + i) - c) * a, scale[i], bias[i]));
            }
        }
    }

    /** Row operations of an outer-axis reduction: {@code acc[j] op= f(x[off + j])} for j in [0, n). */
    enum RowOp { ADD, ADD_ABS, ADD_SQ, MAX, MIN, MUL }

    static void accumulateRow(RowOp op, float[] acc, MemorySegment x, long off, int n) {
        int bound = SPECIES.loopBound(n);
        int j = 0;
        switch (op) {
            case ADD -> {
                for (; j < bound; j += LANES) {
                    FloatVector.fromArray(SPECIES, acc, j).add(load(x, off + j)).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    acc[j] += x.getAtIndex(F32, off + j);
                }
            }
            case ADD_ABS -> {
                for (; j < bound; j += LANES) {
                    FloatVector.fromArray(SPECIES, acc, j).add(load(x, off + j).abs()).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    acc[j] += Math.abs(x.getAtIndex(F32, off + j));
                }
            }
            case ADD_SQ -> {
                for (; j < bound; j += LANES) {
                    FloatVector v = load(x, off + j);
                    v.fma(v, FloatVector.fromArray(SPECIES, acc, j)).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    float v = x.getAtIndex(F32, off + j);
                    acc[j] += v * v;
                }
            }
            case MAX -> {
                for (; j < bound; j += LANES) {
                    FloatVector.fromArray(SPECIES, acc, j).max(load(x, off + j)).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    acc[j] = Math.max(acc[j], x.getAtIndex(F32, off + j));
                }
            }
            case MIN -> {
                for (; j < bound; j += LANES) {
                    FloatVector.fromArray(SPECIES, acc, j).min(load(x, off + j)).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    acc[j] = Math.min(acc[j], x.getAtIndex(F32, off + j));
                }
            }
            case MUL -> {
                for (; j < bound; j += LANES) {
                    FloatVector.fromArray(SPECIES, acc, j).mul(load(x, off + j)).intoArray(acc, j);
                }
                for (; j < n; j++) {
                    acc[j] *= x.getAtIndex(F32, off + j);
                }
            }
        }
    }

    /** {@code acc[j] += exp(x[off + j] - shift[j])}, optionally storing each term to {@code dst[dOff + j]}. */
    static void accumulateExpRow(float[] acc, MemorySegment x, long off, float[] shift, int n, MemorySegment dst, long dOff) {
        int bound = SPECIES.loopBound(n);
        int j = 0;
        for (; j < bound; j += LANES) {
            FloatVector e = VectorMath.exp(load(x, off + j).sub(FloatVector.fromArray(SPECIES, shift, j)));
            if (dst != null) {
                store(e, dst, dOff + j);
            }
            FloatVector.fromArray(SPECIES, acc, j).add(e).intoArray(acc, j);
        }
        for (; j < n; j++) {
            float e = (float) Math.exp(x.getAtIndex(F32, off + j) - shift[j]);
            if (dst != null) {
                dst.setAtIndex(F32, dOff + j, e);
            }
            acc[j] += e;
        }
    }

    /** {@code y[yOff + j] = (x[xOff + j] - c[j]) + b[j]} for j in [0, n). */
    static void shiftAddRow(MemorySegment x, long xOff, MemorySegment y, long yOff, float[] c, float[] b, int n) {
        int bound = SPECIES.loopBound(n);
        int j = 0;
        for (; j < bound; j += LANES) {
            FloatVector v = load(x, xOff + j).sub(FloatVector.fromArray(SPECIES, c, j));
            store(v.add(FloatVector.fromArray(SPECIES, b, j)), y, yOff + j);
        }
        for (; j < n; j++) {
            y.setAtIndex(F32, yOff + j, (x.getAtIndex(F32, xOff + j) - c[j]) + b[j]);
        }
    }

    /** {@code y[yOff + j] = x[xOff + j] * a[j] + b[j]} for j in [0, n); {@code b} may be null (then 0). */
    static void mulAddRow(MemorySegment x, long xOff, MemorySegment y, long yOff, float[] a, float[] b, int n) {
        int bound = SPECIES.loopBound(n);
        int j = 0;
        for (; j < bound; j += LANES) {
            FloatVector v = load(x, xOff + j);
            FloatVector r = b == null ? v.mul(FloatVector.fromArray(SPECIES, a, j))
                    : v.fma(FloatVector.fromArray(SPECIES, a, j), FloatVector.fromArray(SPECIES, b, j));
            store(r, y, yOff + j);
        }
        for (; j < n; j++) {
            float v = x.getAtIndex(F32, xOff + j);
            y.setAtIndex(F32, yOff + j, b == null ? v * a[j] : Math.fma(v, a[j], b[j]));
        }
    }
}
