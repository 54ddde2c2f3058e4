package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * A constant weight {@code op(B)[K, N]} with most elements zero, packed at load time for {@link Spmm}: the B operand
 * of {@code Y[M, N] = A[M, K] x op(B)}, stored by output column j (a row of {@code op(B)^T}, what XNNPACK's SpMM
 * calls an output channel), each column's nonzeros in increasing k.
 *
 * <ul>
 *   <li>{@link Format#CSR} (unstructured sparsity): {@code start[j] .. start[j+1]} index {@code values} (float) and
 *       {@code rows} (the k of each nonzero, int16, so K is at most {@link #MAX_K}). Memory: 6 bytes per nonzero.</li>
 *   <li>{@link Format#TWO_FOUR} (2:4 semi-structured: every group of 4 consecutive k of a column holds at most 2
 *       nonzeros): K is cut into {@code groups = ceil(K/4)} groups; column j, group g has two slots
 *       {@code values[2*(j*groups + g) + s]} (unused slots hold 0 at position 0) and one nibble of 2-bit positions,
 *       slot 0 in bits 0-1 and slot 1 in bits 2-3, nibble {@code q = j*groupsPadded + g} in byte {@code q/2}
 *       (low nibble for even q; {@code groupsPadded} is groups rounded up to even). Memory: 4.25 bytes per weight
 *       pair, about 53% of dense.</li>
 * </ul>
 *
 * <p>Zeros are exact 0.0f or -0.0f; every other value (NaN included) is a nonzero. So the sparse product equals the
 * dense one up to float rounding order (a skipped zero weight contributes nothing, unless the activation is
 * infinite or NaN, where the dense product would give NaN and the sparse one does not).
 */
public final class SparseB {
    /** The largest K a sparse weight may have (k indices are int16). */
    public static final int MAX_K = Short.MAX_VALUE;
    /** Granularity of the per-column K block index (CSR): {@link #blockStart} answers for multiples of it. */
    public static final int K_STEP = 64;

    /** How the nonzeros are stored. */
    public enum Format {
        CSR("CSR"), TWO_FOUR("2:4");

        private final String label;

        Format(String label) {
            this.label = label;
        }

        /** "CSR" or "2:4". */
        public String label() {
            return label;
        }
    }

    /**
     * What a dense weight holds: its nonzero count and whether every group of 4 along K of every column has at
     * most 2 nonzeros (2:4 eligible).
     */
    public record Stats(int k, int n, long nonzeros, boolean twoFour) {
        /** Fraction of zero elements, 0..1. */
        public double sparsity() {
            long total = (long) k * n;
            return total == 0 ? 0 : 1.0 - (double) nonzeros / total;
        }
    }

    private final Format format;
    private final int k;
    private final int n;
    private final long nonzeros;
    private final int[] start;
    private final short[] rows;
    private final float[] values;
    private final byte[] meta;
    private final int groups;
    /**
     * 2:4: the position nibbles again, 16 groups per long (group g of column j in bits {@code 4*(g%16)} of
     * {@code positions[j*ceil(groups/16) + g/16]}): one load per 64 k rows in the SpMM's 2:4 columns.
     */
    private final long[] positions;
    /** CSR: kstart[j * (steps + 1) + s] = index of column j's first nonzero at row >= s * K_STEP (steps = ceil(K / K_STEP)). */
    private final int[] kstart;
    /** The one-row product's layout, built on first use ({@link #gemvLayout}). */
    private volatile SparseGemv.Layout gemv;
    /** The 2:4 SpMM's pattern-sorted layout, built on first use ({@link #twoFourLayout}). */
    private volatile SpmmTwoFour.Layout sorted;
    /** {@link #gemvPadding}, or -1 before its first call. */
    private double padding = -1;

    private SparseB(Format format, int k, int n, long nonzeros, int[] start, short[] rows, float[] values, byte[] meta) {
        this.format = format;
        this.k = k;
        this.n = n;
        this.nonzeros = nonzeros;
        this.start = start;
        this.rows = rows;
        this.values = values;
        this.meta = meta;
        this.groups = (k + 3) / 4;
        this.kstart = start == null ? null : blockIndex(k, n, start, rows);
        this.positions = meta == null ? null : positionWords();
    }

    /**
     * 2:4: the slot values again, by blocks of 16 groups (64 k rows, a K block of the SpMM's row-block path):
     * group g's slot s of column j at {@code [((g/16)*n + j)*32 + 2*(g%16) + s]}, built on first use.
     */
    private volatile float[] blockValues;

    /** See the field: packed on the first call (as many bytes as the values) and kept. */
    float[] blockValues() {
        float[] bv = blockValues;
        if (bv == null) {
            synchronized (this) {
                bv = blockValues;
                if (bv == null) {
                    int words = (groups + 15) / 16;
                    bv = new float[words * n * 32];
                    for (int j = 0; j < n; j++) {
                        for (int g = 0; g < groups; g++) {
                            int at = ((g / 16) * n + j) * 32 + 2 * (g % 16);
                            bv[at] = values[2 * (j * groups + g)];
                            bv[at + 1] = values[2 * (j * groups + g) + 1];
                        }
                    }
                    blockValues = bv;
                }
            }
        }
        return bv;
    }

    private long[] positionWords() {
        int words = (groups + 15) / 16;
        long[] w = new long[n * words];
        for (int j = 0; j < n; j++) {
            for (int g = 0; g < groups; g++) {
                w[j * words + g / 16] |= (long) nibble(j, g) << (4 * (g % 16));
            }
        }
        return w;
    }

    private static int[] blockIndex(int k, int n, int[] start, short[] rows) {
        int steps = (k + K_STEP - 1) / K_STEP;
        int[] ks = new int[n * (steps + 1)];
        for (int j = 0; j < n; j++) {
            int i = start[j];
            for (int st = 0; st <= steps; st++) {
                while (i < start[j + 1] && rows[i] < st * K_STEP) {
                    i++;
                }
                ks[j * (steps + 1) + st] = i;
            }
        }
        return ks;
    }

    /** CSR: index of column j's first nonzero at a row >= p (p a multiple of {@link #K_STEP}, or K). */
    int blockStart(int j, int p) {
        int steps = (k + K_STEP - 1) / K_STEP;
        return p >= k ? start[j + 1] : kstart[j * (steps + 1) + p / K_STEP];
    }

    /** Element {@code op(B)[p, j]}: {@code b[bOff + p*ldb + j]}, or with transB {@code b[bOff + j*ldb + p]}. */
    private static float at(MemorySegment b, long bOff, long ldb, boolean transB, int p, int j) {
        return b.getAtIndex(Tensor.F32, bOff + (transB ? (long) j * ldb + p : (long) p * ldb + j));
    }

    /** Counts the nonzeros of {@code op(B)[k, n]} and checks the 2:4 pattern (one pass over the weight). */
    public static Stats stats(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb) {
        long nnz = 0;
        boolean twoFour = true;
        for (int j = 0; j < n; j++) {
            int inGroup = 0;
            for (int p = 0; p < k; p++) {
                if ((p & 3) == 0) {
                    inGroup = 0;
                }
                if (at(b, bOff, ldb, transB, p, j) != 0f) {
                    nnz++;
                    if (++inGroup > 2) {
                        twoFour = false;
                    }
                }
            }
        }
        return new Stats(k, n, nnz, twoFour);
    }

    /**
     * Packs {@code op(B)[k, n]} into {@code format}.
     *
     * @throws IllegalArgumentException when k exceeds {@link #MAX_K}, the weight has too many nonzeros for CSR, or
     *                                  (2:4) a group of 4 holds more than 2 nonzeros
     */
    public static SparseB pack(Format format, boolean transB, int k, int n, MemorySegment b, long bOff, long ldb) {
        if (k <= 0 || n <= 0 || k > MAX_K) {
            throw new IllegalArgumentException("cannot pack a sparse " + k + "x" + n + " weight (K must be in 1.." + MAX_K + ")");
        }
        return format == Format.CSR ? packCsr(transB, k, n, b, bOff, ldb) : packTwoFour(transB, k, n, b, bOff, ldb);
    }

    private static SparseB packCsr(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb) {
        int[] start = new int[n + 1];
        long nnz = 0;
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < k; p++) {
                if (at(b, bOff, ldb, transB, p, j) != 0f) {
                    nnz++;
                }
            }
            if (nnz > Integer.MAX_VALUE - 64) {
                throw new IllegalArgumentException("a " + k + "x" + n + " weight has too many nonzeros for CSR");
            }
            start[j + 1] = (int) nnz;
        }
        short[] rows = new short[(int) nnz];
        float[] values = new float[(int) nnz];
        int i = 0;
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < k; p++) {
                float v = at(b, bOff, ldb, transB, p, j);
                if (v != 0f) {
                    rows[i] = (short) p;
                    values[i++] = v;
                }
            }
        }
        return new SparseB(Format.CSR, k, n, nnz, start, rows, values, null);
    }

    private static SparseB packTwoFour(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb) {
        int groups = (k + 3) / 4;
        int padded = (groups + 1) & ~1;
        float[] values = new float[2 * groups * n];
        byte[] meta = new byte[padded / 2 * n];
        long nnz = 0;
        for (int j = 0; j < n; j++) {
            for (int g = 0; g < groups; g++) {
                int slot = 0;
                int nibble = 0;
                for (int p = 4 * g; p < Math.min(k, 4 * g + 4); p++) {
                    float v = at(b, bOff, ldb, transB, p, j);
                    if (v == 0f) {
                        continue;
                    }
                    if (slot == 2) {
                        throw new IllegalArgumentException("column " + j + " has more than 2 nonzeros in rows " + 4 * g + ".."
                                + (4 * g + 3) + ": not 2:4 sparse");
                    }
                    values[2 * (j * groups + g) + slot] = v;
                    nibble |= (p - 4 * g) << (2 * slot);
                    slot++;
                    nnz++;
                }
                int q = j * padded + g;
                meta[q >> 1] |= (byte) (nibble << ((q & 1) * 4));
            }
        }
        return new SparseB(Format.TWO_FOUR, k, n, nnz, null, null, values, meta);
    }

    public Format format() {
        return format;
    }

    /** Depth of op(B). */
    public int k() {
        return k;
    }

    /** Columns of op(B) (outputs). */
    public int n() {
        return n;
    }

    /** Nonzero weights (for 2:4, the filled slots). */
    public long nonzeros() {
        return nonzeros;
    }

    /** Multiply-adds per output row the kernels run: the nonzeros for CSR, every slot for 2:4. */
    public long work() {
        return format == Format.CSR ? nonzeros : 2L * groups * n;
    }

    /** Bytes of packed data, the sliced GEMV's and the sorted 2:4 SpMM's layouts included once built. */
    public long byteSize() {
        long own = format == Format.CSR ? 4L * (n + 1) + 4L * kstart.length + 6L * nonzeros
                : 4L * values.length + meta.length + 8L * positions.length;
        float[] bv = blockValues;
        if (bv != null) {
            own += 4L * bv.length;
        }
        SpmmTwoFour.Layout t = sorted;
        if (t != null) {
            own += 4L * t.bounds().length + 4L * t.offsets().length + 4L * t.weights().length;
        }
        SparseGemv.Layout l = gemv;
        return l == null ? own : own + 4L * l.start().length + 4L * l.window().length + 4L * l.values().length + l.rows().length;
    }

    int[] start() {
        return start;
    }

    short[] rows() {
        return rows;
    }

    float[] values() {
        return values;
    }

    byte[] meta() {
        return meta;
    }

    /** 2:4: the position nibbles, 16 groups per long (see the field). */
    long[] positions() {
        return positions;
    }

    /** Groups of 4 along K (2:4). */
    int groups() {
        return groups;
    }

    /** Groups per column rounded up to even: nibbles per column in {@link #meta}. */
    int groupsPadded() {
        return (groups + 1) & ~1;
    }

    /**
     * The one-row product's layout ({@link SparseGemv}), packed on the first call (heap arrays of about 5 bytes per
     * slot lane: at 90% sparsity about 10 bytes per nonzero) and kept.
     */
    SparseGemv.Layout gemvLayout() {
        SparseGemv.Layout l = gemv;
        if (l == null) {
            synchronized (this) {
                l = gemv;
                if (l == null) {
                    l = SparseGemv.pack(this);
                    gemv = l;
                }
            }
        }
        return l;
    }

    /** The 2:4 SpMM's pattern-sorted layout ({@link SpmmTwoFour}: 12 bytes per slot pair), packed on first use and kept. */
    SpmmTwoFour.Layout twoFourLayout() {
        SpmmTwoFour.Layout l = sorted;
        if (l == null) {
            synchronized (this) {
                l = sorted;
                if (l == null) {
                    l = SpmmTwoFour.pack(this);
                    sorted = l;
                }
            }
        }
        return l;
    }

    /**
     * The sliced GEMV's estimated slot lanes per nonzero ({@link SparseGemv#expectedPadding}; 2:4: 1), computed on
     * the first call (every one-row product asks; the estimate sums a Poisson series).
     */
    double gemvPadding() {
        double p = padding;
        if (p < 0) {
            p = format == Format.TWO_FOUR ? 1 : SparseGemv.expectedPadding(k, n, nonzeros);
            padding = p;
        }
        return p;
    }

    /**
     * Column j's nonzeros in increasing k into {@code rowsOut} (their k) and {@code valuesOut} (each at least
     * K long); returns how many (2:4: the filled slots, a slot holding 0 left out).
     */
    int column(int j, int[] rowsOut, float[] valuesOut) {
        int c = 0;
        if (format == Format.CSR) {
            for (int i = start[j]; i < start[j + 1]; i++, c++) {
                rowsOut[c] = rows[i];
                valuesOut[c] = values[i];
            }
            return c;
        }
        for (int g = 0; g < groups; g++) {
            // packing fills slot 0 first, so slot 0's k is the smaller
            int nib = nibble(j, g);
            int p0 = 4 * g + (nib & 3);
            int p1 = 4 * g + ((nib >> 2) & 3);
            float v0 = values[2 * (j * groups + g)];
            float v1 = values[2 * (j * groups + g) + 1];
            if (v0 != 0f) {
                rowsOut[c] = p0;
                valuesOut[c++] = v0;
            }
            if (v1 != 0f) {
                rowsOut[c] = p1;
                valuesOut[c++] = v1;
            }
        }
        return c;
    }

    /** The 2-bit position nibble of column j, group g (2:4). */
    int nibble(int j, int g) {
        int q = j * groupsPadded() + g;
        return (meta[q >> 1] >> ((q & 1) * 4)) & 0xF;
    }

    /** {@code op(B)[p, j]} read back from the packed form (tests). */
    public float get(int p, int j) {
        if (format == Format.CSR) {
            for (int i = start[j]; i < start[j + 1]; i++) {
                if (rows[i] == p) {
                    return values[i];
                }
            }
            return 0f;
        }
        int g = p / 4;
        int nib = nibble(j, g);
        for (int s = 0; s < 2; s++) {
            float v = values[2 * (j * groups + g) + s];
            if (v != 0f && 4 * g + ((nib >> (2 * s)) & 3) == p) {
                return v;
            }
        }
        return 0f;
    }
}
