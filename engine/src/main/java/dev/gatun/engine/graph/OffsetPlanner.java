package dev.gatun.engine.graph;

import java.util.Arrays;

/**
 * Static placement of a run's buffers in one block ("greedy by size", as TensorFlow Lite's arena planner): buffer i
 * of {@code size[i]} bytes lives from event {@code start[i]} to event {@code end[i]} (exclusive; events are the
 * allocations and frees of one recorded run, in order), and two buffers whose lifetimes intersect get disjoint byte
 * ranges. Buffers are placed largest first (ties: earliest first), each at the lowest 64-byte aligned offset that is
 * free of every already placed buffer it is live with.
 *
 * <p>The block is then close to the run's peak live bytes (MobileNetV2 at batch 1: 6.0 MB against the 10.6 MB of
 * the best-fit free list the run was recorded with), and a layer's output lands where an earlier, dead one was, so
 * it is still in cache.
 */
final class OffsetPlanner {
    private OffsetPlanner() {}

    /**
     * The offsets of the buffers, and at index {@code size.length} the block's size.
     *
     * @param size bytes of each buffer (rounded up to 64 here)
     * @param start the event at which each buffer is taken
     * @param end the event at which each is given back ({@code > start})
     */
    static long[] plan(long[] size, long[] start, long[] end) {
        int n = size.length;
        long[] aligned = new long[n];
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            if (end[i] <= start[i]) {
                throw new IllegalArgumentException("buffer " + i + " ends (" + end[i] + ") before it starts (" + start[i] + ")");
            }
            aligned[i] = (Math.max(size[i], 1) + 63) & ~63L;
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> aligned[a] != aligned[b] ? Long.compare(aligned[b], aligned[a]) : Long.compare(start[a], start[b]));
        long[] offset = new long[n + 1];
        int[] placed = new int[n];
        int count = 0;
        int[] live = new int[n];
        long total = 0;
        for (int oi = 0; oi < n; oi++) {
            int i = order[oi];
            int m = 0;
            for (int p = 0; p < count; p++) {
                int j = placed[p];
                if (start[j] < end[i] && start[i] < end[j]) {
                    live[m++] = j;
                }
            }
            // The live neighbours by offset; the first gap that holds buffer i.
            sortByOffset(live, m, offset);
            long at = 0;
            for (int q = 0; q < m; q++) {
                int j = live[q];
                if (at + aligned[i] <= offset[j]) {
                    break;
                }
                at = Math.max(at, offset[j] + aligned[j]);
            }
            offset[i] = at;
            total = Math.max(total, at + aligned[i]);
            placed[count++] = i;
        }
        offset[n] = total;
        return offset;
    }

    /** Insertion sort of {@code idx[0, m)} by {@code offset[idx]} (m is a few dozen at most in practice). */
    private static void sortByOffset(int[] idx, int m, long[] offset) {
        for (int a = 1; a < m; a++) {
            int v = idx[a];
            int b = a - 1;
            while (b >= 0 && offset[idx[b]] > offset[v]) {
                idx[b + 1] = idx[b];
                b--;
            }
            idx[b + 1] = v;
        }
    }
}
