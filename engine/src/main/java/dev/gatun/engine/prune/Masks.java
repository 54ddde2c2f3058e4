package dev.gatun.engine.prune;

import java.util.Arrays;
import java.util.List;

/**
 * Magnitude pruning in place on float weights. Every method zeroes exactly the weights its pattern selects, with ties
 * broken by position (earlier layers, then lower flat index, lose first), so results are deterministic.
 * <ul>
 *   <li>unstructured: the {@code target} smallest |w| over the given layers (one layer: per-layer; all: global);</li>
 *   <li>2:4: in every group of 4 consecutive reduction elements of one output, the 2 smallest |w| (a tail group of
 *       r &lt; 4 keeps min(2, r));</li>
 *   <li>blocks RxC: whole blocks in ascending order of their mean w^2 until {@code target} weights are zero (the
 *       last block may overshoot by less than one block).</li>
 * </ul>
 */
final class Masks {
    private Masks() {}

    /** A layer's weights and how its reduction axis runs through them. */
    record Layer(float[] w, WeightView view) {}

    /** Zeroes the {@code target} smallest magnitudes over all {@code layers} together. */
    static void unstructured(List<Layer> layers, long target) {
        if (target <= 0) {
            return;
        }
        long total = 0;
        for (Layer l : layers) {
            total += l.w.length;
        }
        if (total > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("too many weights to prune together (" + total + "); prune per layer");
        }
        float[] mags = new float[(int) total];
        int p = 0;
        for (Layer l : layers) {
            for (float v : l.w) {
                mags[p++] = Math.abs(v);
            }
        }
        Arrays.sort(mags);
        int k = (int) Math.min(target, total);
        float threshold = mags[k - 1];
        long below = lowerBound(mags, threshold);
        long ties = k - below;
        for (Layer l : layers) {
            float[] w = l.w;
            for (int i = 0; i < w.length; i++) {
                float a = Math.abs(w[i]);
                if (a < threshold) {
                    w[i] = 0f;
                } else if (a == threshold && ties > 0) {
                    w[i] = 0f;
                    ties--;
                }
            }
        }
    }

    private static int lowerBound(float[] sorted, float v) {
        int lo = 0;
        int hi = sorted.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < v) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** 2:4 along the reduction axis: of every group of 4 consecutive k for one output, the 2 largest |w| stay. */
    static void twoFour(Layer layer) {
        WeightView v = layer.view;
        float[] w = layer.w;
        int[] ix = new int[4];
        for (long b = 0; b < v.batches(); b++) {
            for (long o = 0; o < v.outputs(); o++) {
                for (long g = 0; g < v.k(); g += 4) {
                    int r = (int) Math.min(4, v.k() - g);
                    if (r <= 2) {
                        continue;
                    }
                    for (int j = 0; j < r; j++) {
                        ix[j] = (int) v.index(b, o, g + j);
                    }
                    // Keep the two largest: find them, zero the rest (ties: the earlier element stays).
                    int first = -1;
                    int second = -1;
                    for (int j = 0; j < r; j++) {
                        float a = Math.abs(w[ix[j]]);
                        if (first < 0 || a > Math.abs(w[ix[first]])) {
                            second = first;
                            first = j;
                        } else if (second < 0 || a > Math.abs(w[ix[second]])) {
                            second = j;
                        }
                    }
                    for (int j = 0; j < r; j++) {
                        if (j != first && j != second) {
                            w[ix[j]] = 0f;
                        }
                    }
                }
            }
        }
    }

    /** Zeroes whole RxC blocks (R outputs x C reduction elements) of all {@code layers} together, lowest mean w^2 first. */
    static void blocks(List<Layer> layers, int rows, int cols, long target) {
        if (target <= 0) {
            return;
        }
        long count = 0;
        for (Layer l : layers) {
            WeightView v = l.view;
            count += v.batches() * ceilDiv(v.outputs(), rows) * ceilDiv(v.k(), cols);
        }
        if (count > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("too many blocks to prune together (" + count + "); use larger blocks or per layer");
        }
        // Each block: (score bits << 32 | block number); scores are >= 0, so their float bits sort as the floats do.
        long[] keyed = new long[(int) count];
        int n = 0;
        for (Layer l : layers) {
            WeightView v = l.view;
            for (long b = 0; b < v.batches(); b++) {
                for (long o0 = 0; o0 < v.outputs(); o0 += rows) {
                    for (long k0 = 0; k0 < v.k(); k0 += cols) {
                        double sum = 0;
                        long oe = Math.min(v.outputs(), o0 + rows);
                        long ke = Math.min(v.k(), k0 + cols);
                        for (long o = o0; o < oe; o++) {
                            for (long kk = k0; kk < ke; kk++) {
                                float x = l.w[(int) v.index(b, o, kk)];
                                sum += (double) x * x;
                            }
                        }
                        float score = (float) (sum / ((oe - o0) * (ke - k0)));
                        keyed[n] = ((long) Float.floatToIntBits(Float.isNaN(score) ? Float.MAX_VALUE : score) << 32) | n;
                        n++;
                    }
                }
            }
        }
        Arrays.sort(keyed);
        boolean[] drop = new boolean[n];
        long pruned = 0;
        for (int i = 0; i < n && pruned < target; i++) {
            int id = (int) keyed[i];
            drop[id] = true;
            pruned += blockSize(layers, rows, cols, id);
        }
        n = 0;
        for (Layer l : layers) {
            WeightView v = l.view;
            for (long b = 0; b < v.batches(); b++) {
                for (long o0 = 0; o0 < v.outputs(); o0 += rows) {
                    for (long k0 = 0; k0 < v.k(); k0 += cols) {
                        if (drop[n++]) {
                            for (long o = o0; o < Math.min(v.outputs(), o0 + rows); o++) {
                                for (long kk = k0; kk < Math.min(v.k(), k0 + cols); kk++) {
                                    l.w[(int) v.index(b, o, kk)] = 0f;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** The element count of block number {@code id} (in the order {@link #blocks} numbers them). */
    private static long blockSize(List<Layer> layers, int rows, int cols, int id) {
        long rest = id;
        for (Layer l : layers) {
            WeightView v = l.view;
            long ob = ceilDiv(v.outputs(), rows);
            long kb = ceilDiv(v.k(), cols);
            long here = v.batches() * ob * kb;
            if (rest < here) {
                long inBatch = rest % (ob * kb);
                long o0 = inBatch / kb * rows;
                long k0 = inBatch % kb * cols;
                return (Math.min(v.outputs(), o0 + rows) - o0) * (Math.min(v.k(), k0 + cols) - k0);
            }
            rest -= here;
        }
        throw new IllegalStateException("block " + id + " out of range");
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
