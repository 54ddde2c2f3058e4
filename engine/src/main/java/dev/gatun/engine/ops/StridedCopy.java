package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The one data-movement loop of the layout ops (Transpose, Slice, Concat, Split, Tile, Pad, DepthToSpace, ...):
 * copies an n-dimensional box of elements between two tensors of the same dtype, each side addressed by an element
 * offset and per-dimension element strides (any sign; a stride of 0 repeats a source element):
 * <pre>  dst[dstOff + sum_k i_k * dstStrides[k]] = src[srcOff + sum_k i_k * srcStrides[k]]   for 0 &lt;= i_k &lt; dims[k]</pre>
 *
 * <p>Works on element sizes, not values, so it serves every dtype (strings through their {@code String[]}).
 * Before looping it drops size-1 dims and merges neighbouring dims that are contiguous on both sides, so the
 * innermost loop runs over the longest run possible: a run contiguous on both sides is one
 * {@link MemorySegment#copy}; a run whose source is strided while some other dim has source stride 1 (a
 * transpose) is copied in square BLOCK x BLOCK tiles so that both sides stay in cache (4- and 8-byte tiles are
 * staged through heap buffers: contiguous reads, an in-heap transpose, contiguous writes); anything else is an
 * element loop specialised by element size.
 */
final class StridedCopy {
    /** Side of the square tiles of the blocked transpose, in elements. */
    private static final int BLOCK = 32;

    private StridedCopy() {}

    /**
     * A thread's index arrays and staging buffers, grown to the largest rank seen, so that a copy allocates nothing
     * (copies do not nest: nothing runs inside one).
     */
    private static final class Scratch {
        long[] d = new long[8];
        long[] ss = new long[8];
        long[] ds = new long[8];
        long[] idx = new long[8];
        int[] outer = new int[8];
        final int[][] staged = {new int[BLOCK * BLOCK * 2], new int[BLOCK * BLOCK * 2]};

        void fit(int n) {
            if (d.length < n) {
                d = new long[n];
                ss = new long[n];
                ds = new long[n];
                idx = new long[n];
                outer = new int[n];
            }
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Copies with strides as described in the class comment; src and dst have the same dtype. */
    static void copy(Tensor src, long srcOff, long[] srcStrides, Tensor dst, long dstOff, long[] dstStrides, long[] dims) {
        int n = dims.length;
        Scratch sc = SCRATCH.get();
        sc.fit(n);
        long[] d = sc.d;
        long[] ss = sc.ss;
        long[] ds = sc.ds;
        int r = 0;
        for (int k = 0; k < n; k++) {
            if (dims[k] == 0) {
                return;
            }
            if (dims[k] == 1) {
                continue;
            }
            // merge into the previous kept dim when both sides are contiguous across the boundary
            if (r > 0 && ss[r - 1] == srcStrides[k] * dims[k] && ds[r - 1] == dstStrides[k] * dims[k]) {
                d[r - 1] *= dims[k];
                ss[r - 1] = srcStrides[k];
                ds[r - 1] = dstStrides[k];
                continue;
            }
            d[r] = dims[k];
            ss[r] = srcStrides[k];
            ds[r] = dstStrides[k];
            r++;
        }
        if (src.dtype() == DType.STRING) {
            copyStrings(src.strings(), srcOff, dst.strings(), dstOff, d, ss, ds, r);
            return;
        }
        int esz = src.dtype().byteSize();
        MemorySegment s = src.data();
        MemorySegment t = dst.data();
        if (r == 0) {
            MemorySegment.copy(s, srcOff * esz, t, dstOff * esz, esz);
            return;
        }
        int inner = r - 1;
        int block = -1;
        if (ss[inner] != 1 && d[inner] >= 4) {
            for (int k = inner - 1; k >= 0; k--) {
                if (ss[k] == 1 && d[k] >= 4) {
                    block = k;
                    break;
                }
            }
        }
        // odometer over the outer dims (all but the inner one and the blocked one)
        int no = 0;
        int[] outer = sc.outer;
        for (int k = 0; k < inner; k++) {
            if (k != block) {
                outer[no++] = k;
            }
        }
        // 4- and 8-byte elements written contiguously: transpose tiles through int[] staging buffers
        int[][] staged = block >= 0 && ds[inner] == 1 && (esz == 4 || esz == 8) ? sc.staged : null;
        long[] idx = sc.idx;
        java.util.Arrays.fill(idx, 0, no, 0);
        long so = srcOff;
        long dof = dstOff;
        while (true) {
            if (staged != null) {
                blockedStaged(s, so, ss[inner], t, dof, ds[block], d[block], d[inner], esz, staged);
            } else if (block >= 0) {
                blocked(s, so, ss[block], ss[inner], t, dof, ds[block], ds[inner], d[block], d[inner], esz);
            } else {
                run(s, so, ss[inner], t, dof, ds[inner], d[inner], esz);
            }
            int k = no - 1;
            while (k >= 0) {
                int dim = outer[k];
                so += ss[dim];
                dof += ds[dim];
                if (++idx[k] < d[dim]) {
                    break;
                }
                so -= ss[dim] * d[dim];
                dof -= ds[dim] * d[dim];
                idx[k] = 0;
                k--;
            }
            if (k < 0) {
                return;
            }
        }
    }

    /** Copies {@code n} elements with the given element strides (offsets in elements). */
    private static void run(MemorySegment s, long so, long ss, MemorySegment t, long to, long ts, long n, int esz) {
        if (ss == 1 && ts == 1) {
            MemorySegment.copy(s, so * esz, t, to * esz, n * esz);
            return;
        }
        switch (esz) {
            case 4 -> {
                for (long i = 0; i < n; i++) {
                    t.setAtIndex(Tensor.I32, to + i * ts, s.getAtIndex(Tensor.I32, so + i * ss));
                }
            }
            case 8 -> {
                for (long i = 0; i < n; i++) {
                    t.setAtIndex(Tensor.I64, to + i * ts, s.getAtIndex(Tensor.I64, so + i * ss));
                }
            }
            case 2 -> {
                for (long i = 0; i < n; i++) {
                    t.setAtIndex(Tensor.I16, to + i * ts, s.getAtIndex(Tensor.I16, so + i * ss));
                }
            }
            case 1 -> {
                for (long i = 0; i < n; i++) {
                    t.set(Tensor.I8, to + i * ts, s.get(Tensor.I8, so + i * ss));
                }
            }
            default -> throw new IllegalStateException("element size " + esz);
        }
    }

    /**
     * A 2-D copy over dims a (source stride {@code sa} = 1) and b (source stride {@code sb}), visiting BLOCK x BLOCK
     * tiles so that the strided reads of a tile hit lines the tile's other rows reuse.
     */
    private static void blocked(MemorySegment s, long so, long sa, long sb, MemorySegment t, long to, long ta, long tb,
                                long na, long nb, int esz) {
        for (long a0 = 0; a0 < na; a0 += BLOCK) {
            long a1 = Math.min(na, a0 + BLOCK);
            for (long b0 = 0; b0 < nb; b0 += BLOCK) {
                long b1 = Math.min(nb, b0 + BLOCK);
                for (long a = a0; a < a1; a++) {
                    long sBase = so + a * sa;
                    long tBase = to + a * ta;
                    switch (esz) {
                        case 4 -> {
                            for (long b = b0; b < b1; b++) {
                                t.setAtIndex(Tensor.I32, tBase + b * tb, s.getAtIndex(Tensor.I32, sBase + b * sb));
                            }
                        }
                        case 8 -> {
                            for (long b = b0; b < b1; b++) {
                                t.setAtIndex(Tensor.I64, tBase + b * tb, s.getAtIndex(Tensor.I64, sBase + b * sb));
                            }
                        }
                        case 2 -> {
                            for (long b = b0; b < b1; b++) {
                                t.setAtIndex(Tensor.I16, tBase + b * tb, s.getAtIndex(Tensor.I16, sBase + b * sb));
                            }
                        }
                        case 1 -> {
                            for (long b = b0; b < b1; b++) {
                                t.set(Tensor.I8, tBase + b * tb, s.get(Tensor.I8, sBase + b * sb));
                            }
                        }
                        default -> throw new IllegalStateException("element size " + esz);
                    }
                }
            }
        }
    }

    /**
     * The blocked 2-D copy for 4- and 8-byte elements with source stride 1 along a and destination stride 1 along b:
     * each tile is read as contiguous source runs into an int[] (w ints per element), transposed in the heap
     * and written as contiguous destination runs.
     */
    private static void blockedStaged(MemorySegment s, long so, long sb, MemorySegment t, long to, long ta,
                                      long na, long nb, int esz, int[][] buffers) {
        int w = esz / 4;
        int[] tile = buffers[0];
        int[] tr = buffers[1];
        for (long b0 = 0; b0 < nb; b0 += BLOCK) {
            int bn = (int) Math.min(BLOCK, nb - b0);
            for (long a0 = 0; a0 < na; a0 += BLOCK) {
                int an = (int) Math.min(BLOCK, na - a0);
                for (int j = 0; j < bn; j++) {
                    MemorySegment.copy(s, Tensor.I32, (so + (b0 + j) * sb + a0) * esz, tile, j * BLOCK * w, an * w);
                }
                if (w == 1) {
                    for (int i = 0; i < an; i++) {
                        for (int j = 0; j < bn; j++) {
                            tr[i * BLOCK + j] = tile[j * BLOCK + i];
                        }
                    }
                } else {
                    for (int i = 0; i < an; i++) {
                        for (int j = 0; j < bn; j++) {
                            int from = (j * BLOCK + i) * 2;
                            int to2 = (i * BLOCK + j) * 2;
                            tr[to2] = tile[from];
                            tr[to2 + 1] = tile[from + 1];
                        }
                    }
                }
                for (int i = 0; i < an; i++) {
                    MemorySegment.copy(tr, i * BLOCK * w, t, Tensor.I32, (to + (a0 + i) * ta + b0) * esz, bn * w);
                }
            }
        }
    }

    private static void copyStrings(String[] s, long so, String[] t, long to, long[] d, long[] ss, long[] ds, int r) {
        long[] idx = new long[r];
        while (true) {
            t[Math.toIntExact(to)] = s[Math.toIntExact(so)];
            int k = r - 1;
            while (k >= 0) {
                so += ss[k];
                to += ds[k];
                if (++idx[k] < d[k]) {
                    break;
                }
                so -= ss[k] * d[k];
                to -= ds[k] * d[k];
                idx[k] = 0;
                k--;
            }
            if (k < 0) {
                return;
            }
        }
    }

    /**
     * An output tensor for a copying kernel: string tensors hold a {@code String[]} of their own, everything else
     * comes from the context's workspace.
     */
    static Tensor allocate(KernelContext ctx, DType dtype, Shape shape) {
        if (dtype == DType.STRING) {
            return Tensor.ofStrings(shape, new String[Math.toIntExact(shape.size())]);
        }
        return ctx.allocate(dtype, shape);
    }

    /** Row-major element strides of {@code dims}. */
    static long[] strides(long[] dims) {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= dims[i];
        }
        return s;
    }

    /** Sets every element of {@code t} in [from, from + n) to the bit pattern of element {@code srcIdx} of {@code src}. */
    static void fillFrom(Tensor src, long srcIdx, Tensor t, long from, long n) {
        if (n <= 0) {
            return;
        }
        if (t.dtype() == DType.STRING) {
            java.util.Arrays.fill(t.strings(), Math.toIntExact(from), Math.toIntExact(from + n), src.strings()[Math.toIntExact(srcIdx)]);
            return;
        }
        MemorySegment s = src.data();
        MemorySegment d = t.data();
        switch (t.dtype().byteSize()) {
            case 4 -> {
                int v = s.getAtIndex(Tensor.I32, srcIdx);
                for (long i = from; i < from + n; i++) {
                    d.setAtIndex(Tensor.I32, i, v);
                }
            }
            case 8 -> {
                long v = s.getAtIndex(Tensor.I64, srcIdx);
                for (long i = from; i < from + n; i++) {
                    d.setAtIndex(Tensor.I64, i, v);
                }
            }
            case 2 -> {
                short v = s.getAtIndex(Tensor.I16, srcIdx);
                for (long i = from; i < from + n; i++) {
                    d.setAtIndex(Tensor.I16, i, v);
                }
            }
            case 1 -> d.asSlice(from, n).fill(s.get(Tensor.I8, srcIdx));
            default -> throw new IllegalStateException("element size " + t.dtype().byteSize());
        }
    }
}
