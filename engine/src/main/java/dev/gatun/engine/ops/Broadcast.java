package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.Shape;
import java.util.Arrays;

/**
 * Numpy multidirectional broadcasting (https://onnx.ai/onnx/repo-docs/Broadcasting.html) and an iteration plan
 * that makes broadcast loops cheap.
 *
 * <p>The plan drops output dims of size 1 and merges adjacent dims along which every input is either fully
 * present or fully broadcast. What is left is {@code rows} rows of {@code inner} contiguous output elements;
 * within a row each input has stride 1 (it is read contiguously) or 0 (one value repeated). The common cases
 * become a single loop: same shapes (one row, all strides 1), a scalar operand (one row, stride 0), a bias
 * {@code [N]} against {@code [M,N]} ({@code M} rows, both stride 1, the bias restarting at 0 each row), a column
 * {@code [M,1]} against {@code [M,N]} ({@code M} rows, the column at stride 0).
 */
public final class Broadcast {
    /** Receives one row: its first output element and the first element of each input (row-major indices). */
    @FunctionalInterface
    public interface RowVisitor {
        void row(long out, long[] in);
    }

    private final long[] dims;
    private final long[][] strides;
    private final Shape out;

    private Broadcast(Shape out, long[] dims, long[][] strides) {
        this.out = out;
        this.dims = dims;
        this.strides = strides;
    }

    /**
     * The numpy broadcast of {@code shapes}: ranks are right-aligned, each dim is the one size other than 1
     * among the inputs (or 1).
     *
     * @throws IllegalArgumentException naming the shapes when two dims differ and neither is 1
     */
    public static Shape shape(Shape... shapes) {
        int rank = 0;
        for (Shape s : shapes) {
            rank = Math.max(rank, s.rank());
        }
        long[] d = new long[rank];
        Arrays.fill(d, 1);
        for (Shape s : shapes) {
            int off = rank - s.rank();
            for (int i = 0; i < s.rank(); i++) {
                long v = s.dim(i);
                if (v == 1) {
                    continue;
                }
                if (d[off + i] == 1) {
                    d[off + i] = v;
                } else if (d[off + i] != v) {
                    throw new IllegalArgumentException("shapes " + Arrays.toString(shapes) + " cannot be broadcast together (dim "
                            + (off + i) + " of the result: " + d[off + i] + " vs " + v + ")");
                }
            }
        }
        return Shape.of(d);
    }

    /** Whether {@code from} broadcasts to exactly {@code to} (unidirectional broadcasting). */
    public static boolean broadcastsTo(Shape from, Shape to) {
        if (from.rank() > to.rank()) {
            return false;
        }
        int off = to.rank() - from.rank();
        for (int i = 0; i < from.rank(); i++) {
            if (from.dim(i) != 1 && from.dim(i) != to.dim(off + i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The shape old-style broadcasting (opset &lt; 7, attributes {@code broadcast=1} and {@code axis}) gives
     * {@code b} against {@code a}: b's dims placed at {@code axis} (default: aligned to the end), 1 elsewhere,
     * so that numpy broadcasting then does what the old rule did.
     *
     * @throws IllegalArgumentException when b does not fit into a at that axis
     */
    public static Shape legacy(Shape a, Shape b, long axis, boolean hasAxis) {
        int ra = a.rank();
        int rb = b.rank();
        long start = hasAxis ? (axis < 0 ? axis + ra : axis) : ra - rb;
        if (start < 0 || start + rb > ra) {
            throw new IllegalArgumentException("legacy broadcast of " + b + " into " + a + " at axis " + axis);
        }
        long[] d = new long[ra];
        Arrays.fill(d, 1);
        for (int i = 0; i < rb; i++) {
            long v = b.dim(i);
            if (v != 1 && v != a.dim((int) start + i)) {
                throw new IllegalArgumentException("legacy broadcast of " + b + " into " + a + " at axis " + start);
            }
            d[(int) start + i] = v;
        }
        return Shape.of(d);
    }

    /**
     * The iteration plan of {@code ins} broadcast to {@code out}; every input must broadcast to {@code out}
     * (check with {@link #shape} first).
     */
    public static Broadcast plan(Shape out, Shape... ins) {
        int rank = out.rank();
        int n = ins.length;
        // Per output dim (size > 1 only): which inputs are broadcast along it.
        long[] keptDims = new long[rank];
        boolean[][] bc = new boolean[rank][];
        int kept = 0;
        for (int d = 0; d < rank; d++) {
            long size = out.dim(d);
            if (size == 1) {
                continue;
            }
            boolean[] flags = new boolean[n];
            for (int k = 0; k < n; k++) {
                int kd = d - (rank - ins[k].rank());
                flags[k] = kd < 0 || ins[k].dim(kd) == 1;
                if (!flags[k] && ins[k].dim(kd) != size) {
                    throw new IllegalArgumentException("shape " + ins[k] + " does not broadcast to " + out);
                }
            }
            keptDims[kept] = size;
            bc[kept++] = flags;
        }
        if (kept == 0) {
            long[][] strides = new long[n][1];
            return new Broadcast(out, new long[] {1}, strides);
        }
        // Merge runs of dims with equal broadcast flags.
        long[] dims = new long[kept];
        boolean[][] groupFlags = new boolean[kept][];
        int g = 0;
        for (int d = 0; d < kept; d++) {
            if (g > 0 && Arrays.equals(groupFlags[g - 1], bc[d])) {
                dims[g - 1] *= keptDims[d];
            } else {
                dims[g] = keptDims[d];
                groupFlags[g++] = bc[d];
            }
        }
        dims = Arrays.copyOf(dims, g);
        long[][] strides = new long[n][g];
        for (int k = 0; k < n; k++) {
            long acc = 1;
            for (int d = g - 1; d >= 0; d--) {
                if (!groupFlags[d][k]) {
                    strides[k][d] = acc;
                    acc *= dims[d];
                }
            }
        }
        return new Broadcast(out, dims, strides);
    }

    /** The output shape. */
    public Shape out() {
        return out;
    }

    /** Elements per row. */
    public long inner() {
        return dims[dims.length - 1];
    }

    /** Number of rows. */
    public long rows() {
        long r = 1;
        for (int d = 0; d < dims.length - 1; d++) {
            r *= dims[d];
        }
        return r;
    }

    /** Stride of input {@code k} within a row: 1 (contiguous) or 0 (one value repeated). */
    public long innerStride(int k) {
        return strides[k][dims.length - 1];
    }

    /** Whether every input is read contiguously in a single row (same shapes, or one of them a scalar). */
    public boolean isFlat() {
        return dims.length == 1;
    }

    /** The offsets of a single row: visitors only read the array they are given. */
    private static final long[] ZEROS = new long[16];

    /** Calls {@code v} for every row, in output order. The offsets array is reused between calls; visitors only read it. */
    public void forEachRow(RowVisitor v) {
        if (out.size() == 0) {
            return;
        }
        int outer = dims.length - 1;
        int n = strides.length;
        long inner = dims[outer];
        long rows = rows();
        if (rows == 1 && n <= ZEROS.length) {
            // One row (equal shapes, or a scalar operand): every input starts at offset 0; no per-call arrays.
            v.row(0, ZEROS);
            return;
        }
        long[] idx = new long[outer];
        long[] off = new long[n];
        long o = 0;
        for (long r = 0; r < rows; r++) {
            v.row(o, off);
            o += inner;
            for (int d = outer - 1; d >= 0; d--) {
                idx[d]++;
                for (int k = 0; k < n; k++) {
                    off[k] += strides[k][d];
                }
                if (idx[d] < dims[d]) {
                    break;
                }
                for (int k = 0; k < n; k++) {
                    off[k] -= strides[k][d] * dims[d];
                }
                idx[d] = 0;
            }
        }
    }
}
