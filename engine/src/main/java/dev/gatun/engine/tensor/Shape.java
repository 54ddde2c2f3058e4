package dev.gatun.engine.tensor;

import java.util.Arrays;

/**
 * Immutable tensor dimensions. A dimension is a non-negative size; while planning, a dimension that is not
 * known yet is {@link #UNKNOWN} and may carry the symbolic name the model gave it ({@code batch_size}).
 * A shape used to run is always concrete.
 */
public final class Shape {
    /** Marks a dimension not known before run time. */
    public static final long UNKNOWN = -1;

    private static final Shape SCALAR = new Shape(new long[0], null);

    private final long[] dims;
    private final String[] names;

    private Shape(long[] dims, String[] names) {
        this.dims = dims;
        this.names = names;
    }

    /** A concrete shape; every dim must be >= 0. */
    public static Shape of(long... dims) {
        if (dims.length == 0) {
            return SCALAR;
        }
        for (long d : dims) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
            }
        }
        return new Shape(dims.clone(), null);
    }

    /** A concrete shape from int dims. */
    public static Shape of(int... dims) {
        long[] l = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            l[i] = dims[i];
        }
        return of(l);
    }

    /** The rank-0 shape. */
    public static Shape scalar() {
        return SCALAR;
    }

    /** A shape that may hold unknown dims ({@link #UNKNOWN}) with optional symbolic names (null entries allowed). */
    public static Shape symbolic(long[] dims, String[] names) {
        if (names != null && names.length != dims.length) {
            throw new IllegalArgumentException("names and dims differ in length");
        }
        for (long d : dims) {
            if (d < UNKNOWN) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
            }
        }
        return new Shape(dims.clone(), names == null ? null : names.clone());
    }

    public int rank() {
        return dims.length;
    }

    /** Dimension {@code i}; negative {@code i} counts from the end. */
    public long dim(int i) {
        return dims[i < 0 ? dims.length + i : i];
    }

    /** The symbolic name of dimension {@code i}, or null. */
    public String dimName(int i) {
        return names == null ? null : names[i];
    }

    /** A copy of the dims. */
    public long[] dims() {
        return dims.clone();
    }

    /** Whether every dim is known. */
    public boolean isConcrete() {
        for (long d : dims) {
            if (d == UNKNOWN) {
                return false;
            }
        }
        return true;
    }

    /**
     * Number of elements.
     *
     * @throws ArithmeticException when the product overflows a long
     * @throws IllegalStateException when a dim is unknown
     */
    public long size() {
        long n = 1;
        for (long d : dims) {
            if (d == UNKNOWN) {
                throw new IllegalStateException("size of symbolic shape " + this);
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Row-major element strides. */
    public long[] strides() {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= dims[i];
        }
        return s;
    }

    /** Product of dims in [from, to). */
    public long sizeOf(int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) {
            n = Math.multiplyExact(n, dims[i]);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** {@code [2,3,224,224]}; unknown dims print their name or {@code ?}. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < dims.length; i++) {
            if (i > 0) {
                b.append(',');
            }
            if (dims[i] == UNKNOWN) {
                b.append(names != null && names[i] != null ? names[i] : "?");
            } else {
                b.append(dims[i]);
            }
        }
        return b.append(']').toString();
    }
}
