package dev.gatun.engine.cpu;

import static dev.gatun.engine.cpu.SgemmKernel.KC;
import static dev.gatun.engine.cpu.SgemmKernel.NR;
import static dev.gatun.engine.cpu.SgemmKernel.VL;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The B operand of {@link Sgemm} ({@code op(B)[K,N]}) repacked for the micro-kernel: built once from a constant
 * weight (any transposition) and reused by every run, or built per call into scratch memory.
 *
 * <p>Layout (floats, 64-byte aligned): K is cut into blocks of {@link SgemmKernel#KC} rows (the last shorter);
 * N is padded with zeros to {@code npad}, a multiple of {@link SgemmKernel#NR}. Block {@code pb} (rows
 * {@code pc = pb*KC ..}, depth {@code kcb}) starts at {@code pc * npad}; inside it the panel of columns
 * {@code [jr, jr + NR)} starts at {@code jr * kcb} and holds its {@code kcb} rows one after the other, NR floats each.
 * So {@code op(B)[p, j]} sits at {@code pc*npad + (j - j%NR)*kcb + (p - pc)*NR + j%NR}: the micro-kernel reads
 * its B panel as one contiguous stream and the matrix-vector product streams the whole buffer in order.
 */
public final class PackedB {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Rows of B copied per pass over a K block's panels when packing row-major B (they stay in cache meanwhile). */
    private static final int ROWS_PER_PASS = 8;

    private final int k;
    private final int n;
    private final int npad;
    private final MemorySegment data;

    private PackedB(int k, int n, MemorySegment data) {
        this.k = k;
        this.n = n;
        this.npad = paddedN(n);
        this.data = data;
    }

    /** Depth of op(B). */
    public int k() {
        return k;
    }

    /** Columns of op(B). */
    public int n() {
        return n;
    }

    /** Bytes of packed data. */
    public long byteSize() {
        return data.byteSize();
    }

    MemorySegment data() {
        return data;
    }

    int npad() {
        return npad;
    }

    /** Byte offset of the panel holding columns [jr, jr + NR) of the K block starting at row pc (jr a multiple of NR). */
    long panelAt(int pc, int jr) {
        int kcb = Math.min(KC, k - pc);
        return ((long) pc * npad + (long) jr * kcb) * 4;
    }

    static int paddedN(int n) {
        return (n + NR - 1) / NR * NR;
    }

    /** Floats a packed {@code k x n} B needs. */
    static long floats(int k, int n) {
        return (long) k * paddedN(n);
    }

    /**
     * Packs {@code op(B)[k, n]} into a new buffer from {@code arena}: {@code op(B)[p, j]} is {@code b[bOff + p*ldb + j]},
     * or with {@code transB} {@code b[bOff + j*ldb + p]} (B stored [N, K]).
     */
    public static PackedB pack(Arena arena, boolean transB, int k, int n, MemorySegment b, long bOff, int ldb) {
        if (k <= 0 || n <= 0) {
            throw new IllegalArgumentException("cannot pack an empty B (" + k + "x" + n + ")");
        }
        PackedB pb = new PackedB(k, n, arena.allocate(floats(k, n) * 4, 64));
        pb.packPanels(transB, b, bOff, ldb, 0, pb.panelCount());
        return pb;
    }

    /** A PackedB over caller-provided memory of at least {@link #floats} floats; fill it with {@link #packPanels}. */
    static PackedB over(int k, int n, MemorySegment scratch) {
        return new PackedB(k, n, scratch);
    }

    /** Number of (K block, column panel) units {@link #packPanels} counts over. */
    int panelCount() {
        return ((k + KC - 1) / KC) * (npad / NR);
    }

    /** Packs units [from, to) (K block major, column panel minor); units are disjoint, so threads may share the work. */
    void packPanels(boolean transB, MemorySegment b, long bOff, int ldb, int from, int to) {
        int panels = npad / NR;
        for (int u = from; u < to; ) {
            int pb = u / panels;
            int last = Math.min(to, (pb + 1) * panels); // units [u, last) share K block pb
            int pc = pb * KC;
            int kcb = Math.min(KC, k - pc);
            if (!transB) {
                // A few rows at a time across the block's panels: B read along its rows, each panel written in runs.
                for (int p0 = 0; p0 < kcb; p0 += ROWS_PER_PASS) {
                    int rows = Math.min(ROWS_PER_PASS, kcb - p0);
                    for (int q = u; q < last; q++) {
                        int jr = (q % panels) * NR;
                        packRows(b, bOff + (long) (pc + p0) * ldb + jr, ldb, rows, Math.min(NR, n - jr),
                                panelAt(pc, jr) + (long) p0 * NR * 4);
                    }
                }
            } else {
                for (int q = u; q < last; q++) {
                    int jr = (q % panels) * NR;
                    packColumns(b, bOff + (long) jr * ldb + pc, ldb, kcb, Math.min(NR, n - jr), panelAt(pc, jr));
                }
            }
            u = last;
        }
    }

    /** Panel from row-major B: row p of the panel is b[src + p*ldb .. + nr], zero-padded to NR. */
    private void packRows(MemorySegment b, long src, int ldb, int kcb, int nr, long dst) {
        for (int p = 0; p < kcb; p++) {
            long from = (src + (long) p * ldb) * 4;
            long to = dst + (long) p * NR * 4;
            int j = 0;
            for (; j + VL <= nr; j += VL) {
                FloatVector.fromMemorySegment(S, b, from + j * 4L, LE).intoMemorySegment(data, to + j * 4L, LE);
            }
            for (; j < nr; j++) {
                data.set(Tensor.F32, to + j * 4L, b.get(Tensor.F32, from + j * 4L));
            }
            for (; j < NR; j++) {
                data.set(Tensor.F32, to + j * 4L, 0f);
            }
        }
    }

    /** Panel from B stored [N, K]: column j of the panel is b[src + j*ldb .. + kcb]; columns past nr are zero. */
    private void packColumns(MemorySegment b, long src, int ldb, int kcb, int nr, long dst) {
        for (int j = 0; j < NR; j++) {
            long from = (src + (long) j * ldb) * 4;
            for (int p = 0; p < kcb; p++) {
                data.set(Tensor.F32, dst + ((long) p * NR + j) * 4, j < nr ? b.get(Tensor.F32, from + p * 4L) : 0f);
            }
        }
    }
}
