package dev.gatun.engine.cuda;

import dev.gatun.engine.tensor.Shape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The kernels' {@code struct Bcast} (native/cuda/gatun_common.cuh), passed by value: {@code int rank; int pad;
 * i64 dims[6]; i64 sa[6]; i64 sb[6];} = 152 bytes, 8-aligned. dims are the output's; sa / sb each input's element
 * stride per output dim (0 where it broadcasts), or any strides for strided copies (transpose, slice).
 */
record Bcast(long[] dims, long[] sa, long[] sb) {
    static final int MAX_RANK = 6;
    static final long BYTES = 8 + 3 * 8 * MAX_RANK;

    /** numpy broadcasting of a and b to out (out = the broadcast shape); null when the rank exceeds 6. */
    static Bcast of(Shape out, Shape a, Shape b) {
        int r = out.rank();
        if (r > MAX_RANK) {
            return null;
        }
        return new Bcast(out.dims(), strides(out, a), b == null ? new long[r] : strides(out, b));
    }

    /** Per output dim, the element stride of {@code in} right-aligned against {@code out} (0 for broadcast dims). */
    static long[] strides(Shape out, Shape in) {
        int r = out.rank();
        long[] s = new long[r];
        long acc = 1;
        for (int d = r - 1; d >= 0; d--) {
            int id = d - (r - in.rank());
            long dim = id >= 0 ? in.dim(id) : 1;
            s[d] = dim == 1 ? 0 : acc;
            acc *= dim;
        }
        return s;
    }

    /** Contiguous (row-major) element strides of a shape. */
    static long[] contiguous(Shape s) {
        long[] st = new long[s.rank()];
        long acc = 1;
        for (int d = s.rank() - 1; d >= 0; d--) {
            st[d] = acc;
            acc *= s.dim(d);
        }
        return st;
    }

    /** Writes the struct at {@code seg} (BYTES long). */
    void write(MemorySegment seg) {
        seg.fill((byte) 0);
        int r = dims.length;
        seg.set(ValueLayout.JAVA_INT, 0, r == 0 ? 1 : r);
        if (r == 0) {
            seg.set(ValueLayout.JAVA_LONG, 8, 1);
            return;
        }
        for (int d = 0; d < r; d++) {
            seg.set(ValueLayout.JAVA_LONG, 8 + 8L * d, dims[d]);
            seg.set(ValueLayout.JAVA_LONG, 8 + 8L * (MAX_RANK + d), sa[d]);
            seg.set(ValueLayout.JAVA_LONG, 8 + 8L * (2 * MAX_RANK + d), sb[d]);
        }
    }
}
