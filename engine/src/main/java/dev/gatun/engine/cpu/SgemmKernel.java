package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked micro-kernel of {@link Sgemm} and the code around it: block sizes, the tile store
 * (alpha, beta, accumulation over K blocks, fused {@link Epilogue}) and the packing of edge A panels.
 *
 * <p>Micro-kernel: {@code tile[MR, NR] = A[MR, kc] x Bpanel[kc, NR]} with {@code MR * NR/VL} vector accumulators
 * of {@link FloatVector#SPECIES_PREFERRED}. With 512-bit vectors (32 registers) MR = 8 rows by NR = 3 vectors:
 * 24 accumulators, 3 B vectors and one broadcast A value per step; narrower species get 6 x 2 (12 accumulators,
 * for 16 registers); edge panels of at most 2 (1) vectors run an 8 x 2 (8 x 1) variant. Each step is, per row r, {@code acc[r][v] = fma(A[r,p], B[p, v*VL..], acc[r][v])}: every
 * element of a K block is one fused multiply-add chain in increasing p, whatever the tile's position, so results
 * do not depend on the partitioning or the thread count.
 *
 * <p>A is copied per A block into a per-thread {@code float[]} ({@link #packA}: panels of MR rows interleaved per K
 * step, edge rows zero) and read from there; B through {@link #ALL} at absolute addresses (see there why neither is
 * read through its own segment). B is a {@link PackedB} panel read as one contiguous stream. The accumulators go to
 * a per-thread tile array ({@code MR*NR} floats, in L1) before {@link #store} combines them with C: keeping vectors
 * inside the kernel method (they would be boxed if passed to a call the JIT does not inline) and giving one store
 * path for full and edge tiles.
 *
 * <p>Instruction economy (what made the kernel fast on Intel cores, whose FMA ports also execute integer ops): the
 * 8-row kernels count one int index {@code o} over the packed A panel and derive B's address from it
 * ({@code bBase + o * B_PER_A}), so the JIT drops the array and segment bounds checks from the loop; the MR
 * broadcasts of a step read {@code ap[o + r]} (one base register, constant displacements, each a single load
 * uop); the 8 x 3 kernel is unrolled by two steps. Measured in-cache on a Sapphire-Rapids-class Xeon (one thread):
 * 126-150 GFLOP/s with rows of A apart and a K index, 198 with this form (peak 222).
 *
 * <p>Blocking (48 KB L1D; L2 1 MB on Zen 5, 2 MB on Sapphire Rapids): {@link Sgemm} walks a block of NC columns of
 * B (KC x NC, 768 KB at KC = 512) from L2 once per MR-row panel of the A block (MR x KC, 16 KB, kept in L1 across
 * the NC/NR panels), so C tiles are visited along their rows. KC = 512 and MC = 128 were measured best among KC in
 * 128..1024 and MC in 64..512 on 1024^3 and the BERT shapes (with the former panel-outer order). On the Xeon the
 * 8 x 3 kernel streaming a 768 KB B block from L2 ran as fast as on an L1-resident panel (177 GFLOP/s each under
 * load), and a 12 x 2 shape (fewer B bytes per FMA) measured no faster, so 8 x 3 stays.
 *
 * <p>packA: for whole MR-row panels of a row-major A the MR rows are bulk-copied to a staging array and interleaved
 * by 16-lane gathers (two K steps per vector, {@link GemmScratch#packIndex}); edge rows and transposed A are
 * copied element by element. The tile store ({@link #store}) reads and writes a native C through {@link #ALL}.
 */
final class SgemmKernel {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /**
     * All of memory as one constant segment: the micro-kernels read B through it at absolute addresses, and A from a
     * heap array. Read through their own segments, the kernel's loads are compiled from the JDK's shared access code
     * and its type profile: once any heap segment has been accessed anywhere in the JVM (a loader, a test), that
     * profile is polluted and the same kernel measured 150-157 GFLOP/s against 227-231 unpolluted (4096x384x1536, one
     * thread, CPU time). Vector loads through this constant and scalar loads from a float[] stay at 249 either way.
     * (Scalar loads through this constant are pathological, 36-40 GFLOP/s: hence A on the heap.) {@link #kernel}
     * checks B's bounds against its real segment once per call.
     */
    static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);
    /**
     * An address into {@link #ALL} anded with this is unchanged (user-space addresses are below 2^47), but C2 then
     * knows it lies in [0, 2^62) and drops the Vector API's bounds check of every access at that address plus a
     * constant: one AND per address instead of a compare and branch per load or store. Only for addresses whose span
     * was checked against their real segment beforehand, as every kernel here does. In the 2:4 entry loop (4 loads,
     * 4 stores, 8 FMAs) and the CSR column loop (8 loads, 8 FMAs) these checks cost about 6-9%.
     */
    static final long ADDRESS_MASK = (1L << 62) - 1;
    /** A byte stride anded with this is unchanged (strides here are below 2^40); with {@link #ADDRESS_MASK}, C2 then
     * knows that base + k * stride stays below 2^63 for the small constant k of a 16 x 16 square. */
    static final long STRIDE_MASK = (1L << 40) - 1;
    static final int VL = S.length();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Whether the 8 x 3-vector kernel is used (512-bit vectors, 32 registers); else 6 x 2. */
    static final boolean WIDE = S.vectorBitSize() >= 512;
    /** Rows of the micro-kernel tile. */
    static final int MR = WIDE ? 8 : 6;
    /** Vectors per tile row. */
    static final int NV = WIDE ? 3 : 2;
    /** Columns of the micro-kernel tile. */
    static final int NR = NV * VL;
    /** Depth of a K block (the chains restart per block; fixed, so results do not depend on the shape split). */
    static final int KC = 512;
    /** Rows of an A block (a multiple of MR): packed once per K block, its MR-row panels each reused from L1. */
    static final int MC = 16 * MR;
    /** Columns of a B block (a multiple of NR): KC x NC floats (768 KB with 512-bit vectors) reused from L2. */
    static final int NC = 8 * NR;
    /** Bytes of a B panel per float of a packed A panel (a K step is MR floats of A, NR * 4 bytes of B). */
    private static final long B_PER_A = NR * 4L / MR;
    /** Bytes of one vector. */
    private static final long VB = VL * 4L;

    private SgemmKernel() {}

    /**
     * {@code tile = A[MR rows, kc] x B[kc, NR]} on the first {@code nr} columns (rounded up to whole vectors: an
     * edge panel runs a narrower kernel, the columns' chains unchanged): A(r, p) at {@code ap[aAt + p*MR + r]} (a
     * panel as {@link #packA} writes it), B row p at byte {@code bAt + p*NR*4} of {@code b}.
     */
    static void kernel(float[] ap, int aAt, MemorySegment b, long bAt, int kc, int nr, float[] tile) {
        if (kc <= 0) {
            java.util.Arrays.fill(tile, 0, MR * NR, 0f);
            return;
        }
        java.util.Objects.checkFromIndexSize(aAt, MR * kc, ap.length);
        checkBounds(b, bAt, (long) kc * NR * 4, "B");
        long bAddr = b.address() + bAt;
        if (nr > NR - VL) {
            if (WIDE) {
                kernel8x3(ap, aAt, bAddr, kc, tile);
            } else {
                kernel6x2(ap, aAt, bAddr, kc, tile);
            }
        } else if (WIDE && nr > VL) {
            kernel8x2(ap, aAt, bAddr, kc, tile);
        } else if (WIDE) {
            kernel8x1(ap, aAt, bAddr, kc, tile);
        } else {
            kernel6x1(ap, aAt, bAddr, kc, tile);
        }
    }

    /**
     * As {@link #kernel(float[], int, MemorySegment, long, int, int, float[])} with A(r, p) at byte
     * {@code aAt + r*rs + p*cs} of the segment {@code a}: copies the MR x kc panel to a per-thread array first.
     */
    static void kernel(MemorySegment a, long aAt, long rs, long cs, MemorySegment b, long bAt, int kc, int nr, float[] tile) {
        float[] ap = GemmScratch.get().packA(MR * Math.max(kc, 0));
        for (int r = 0; r < MR; r++) {
            for (int p = 0; p < kc; p++) {
                ap[p * MR + r] = a.get(Tensor.F32, aAt + r * rs + p * cs);
            }
        }
        kernel(ap, 0, b, bAt, kc, nr, tile);
    }

    /**
     * Packs rows [row, row + mr) x columns [pc, pc + kc) of op(A) ({@code op(A)[i, p]} = {@code a[aOff + i*lda + p]},
     * or with {@code transA} {@code a[aOff + p*lda + i]}) into {@code ap} from {@code apOff} as panels of MR rows,
     * each {@code MR * kc} floats with A(r, p) of the panel at {@code p*MR + r} (the MR values of one step
     * adjacent, so the micro-kernel's broadcasts share one index), the rows past {@code mr} of the last panel zero.
     */
    static void packA(boolean transA, MemorySegment a, long aOff, int lda, int row, int mr, int pc, int kc, float[] ap, int apOff) {
        int padded = (mr + MR - 1) / MR * MR;
        java.util.Objects.checkFromIndexSize(apOff, padded * kc, ap.length);
        int whole = mr / MR * MR;
        if (!transA && VL % MR == 0 && whole > 0) {
            GemmScratch g = GemmScratch.get();
            float[] stage = g.rowA(MR * kc);
            int[] idx = g.packIndex(kc);
            int steps = kc / (VL / MR) * (VL / MR);
            for (int i = 0; i < whole; i += MR) {
                for (int r = 0; r < MR; r++) {
                    MemorySegment.copy(a, Tensor.F32, (aOff + (long) (row + i + r) * lda + pc) * 4, stage, r * kc, kc);
                }
                int at = apOff + i * kc;
                for (int p = 0; p < steps; p += VL / MR) {
                    FloatVector.fromArray(S, stage, p, idx, 0).intoArray(ap, at + p * MR);
                }
                for (int p = steps; p < kc; p++) {
                    for (int r = 0; r < MR; r++) {
                        ap[at + p * MR + r] = stage[r * kc + p];
                    }
                }
            }
            if (whole < mr) {
                float[] rowBuf = stage;
                for (int r = whole; r < mr; r++) {
                    MemorySegment.copy(a, Tensor.F32, (aOff + (long) (row + r) * lda + pc) * 4, rowBuf, 0, kc);
                    int at = apOff + r / MR * MR * kc + r % MR;
                    for (int p = 0; p < kc; p++) {
                        ap[at + p * MR] = rowBuf[p];
                    }
                }
            }
        } else if (!transA) {
            float[] rowBuf = GemmScratch.get().rowA(kc);
            for (int r = 0; r < mr; r++) {
                MemorySegment.copy(a, Tensor.F32, (aOff + (long) (row + r) * lda + pc) * 4, rowBuf, 0, kc);
                int at = apOff + r / MR * MR * kc + r % MR;
                for (int p = 0; p < kc; p++) {
                    ap[at + p * MR] = rowBuf[p];
                }
            }
        } else {
            for (int p = 0; p < kc; p++) {
                long at = aOff + (long) (pc + p) * lda + row;
                for (int r = 0; r < mr; r++) {
                    ap[apOff + r / MR * MR * kc + p * MR + r % MR] = a.getAtIndex(Tensor.F32, at + r);
                }
            }
        }
        if (mr < padded) {
            int last = apOff + (padded - MR) * kc;
            for (int p = 0; p < kc; p++) {
                java.util.Arrays.fill(ap, last + p * MR + mr % MR, last + p * MR + MR, 0f);
            }
        }
    }

    /**
     * The absolute address of byte {@code at} of the native segment {@code s}, after checking that bytes
     * [at, at + span) lie inside it and that it is alive: for code that then reads or writes through {@link #ALL}.
     */
    static long address(MemorySegment s, long at, long span, String what) {
        checkBounds(s, at, span, what);
        return s.address() + at;
    }

    /** Bytes [at, at + span) must lie inside the native segment {@code s} (which must be alive): checked once per call. */
    private static void checkBounds(MemorySegment s, long at, long span, String what) {
        if (!s.isNative() || !s.scope().isAlive() || at < 0 || span < 0 || at + span > s.byteSize()) {
            throw new IndexOutOfBoundsException("CPU kernel: " + what + " bytes [" + at + ", " + (at + span)
                    + ") outside " + (s.isNative() ? "" : "non-native ") + "segment of " + s.byteSize() + " bytes");
        }
    }

    private static void kernel8x3(float[] ap, int aAt, long bAt, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S), c22 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S), c32 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S), c42 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S), c52 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S), c62 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S), c72 = FloatVector.zero(S);
        FloatVector b0, b1, b2, x;
        long bBase = bAt - (long) aAt * B_PER_A;
        int end = aAt + MR * kc;
        int o = aAt;
        for (; o + MR < end; o += 2 * MR) {
            long bq0 = bBase + (long) (o + 0) * B_PER_A;
            b0 = FloatVector.fromMemorySegment(S, ALL, bq0, LE);
            b1 = FloatVector.fromMemorySegment(S, ALL, bq0 + 1 * VB, LE);
            b2 = FloatVector.fromMemorySegment(S, ALL, bq0 + 2 * VB, LE);
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(S, ap[o + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61); c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(S, ap[o + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71); c72 = x.fma(b2, c72);
            long bq8 = bBase + (long) (o + 8) * B_PER_A;
            b0 = FloatVector.fromMemorySegment(S, ALL, bq8, LE);
            b1 = FloatVector.fromMemorySegment(S, ALL, bq8 + 1 * VB, LE);
            b2 = FloatVector.fromMemorySegment(S, ALL, bq8 + 2 * VB, LE);
            x = FloatVector.broadcast(S, ap[o + 8]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, ap[o + 9]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, ap[o + 10]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, ap[o + 11]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, ap[o + 12]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, ap[o + 13]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(S, ap[o + 14]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61); c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(S, ap[o + 15]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71); c72 = x.fma(b2, c72);
        }
        for (; o < end; o += MR) {
            long bq0 = bBase + (long) (o + 0) * B_PER_A;
            b0 = FloatVector.fromMemorySegment(S, ALL, bq0, LE);
            b1 = FloatVector.fromMemorySegment(S, ALL, bq0 + 1 * VB, LE);
            b2 = FloatVector.fromMemorySegment(S, ALL, bq0 + 2 * VB, LE);
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(S, ap[o + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61); c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(S, ap[o + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71); c72 = x.fma(b2, c72);
        }
        c00.intoArray(t, 0); c01.intoArray(t, 1 * VL); c02.intoArray(t, 2 * VL);
        c10.intoArray(t, 3 * VL); c11.intoArray(t, 4 * VL); c12.intoArray(t, 5 * VL);
        c20.intoArray(t, 6 * VL); c21.intoArray(t, 7 * VL); c22.intoArray(t, 8 * VL);
        c30.intoArray(t, 9 * VL); c31.intoArray(t, 10 * VL); c32.intoArray(t, 11 * VL);
        c40.intoArray(t, 12 * VL); c41.intoArray(t, 13 * VL); c42.intoArray(t, 14 * VL);
        c50.intoArray(t, 15 * VL); c51.intoArray(t, 16 * VL); c52.intoArray(t, 17 * VL);
        c60.intoArray(t, 18 * VL); c61.intoArray(t, 19 * VL); c62.intoArray(t, 20 * VL);
        c70.intoArray(t, 21 * VL); c71.intoArray(t, 22 * VL); c72.intoArray(t, 23 * VL);
    }

    private static void kernel6x2(float[] ap, int aAt, long bAt, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            long bq = bAt + p * (long) (NR * 4);
            int o = aAt + p * MR;
            FloatVector b0 = FloatVector.fromMemorySegment(S, ALL, bq, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, ALL, bq + 1 * VB, LE);
            FloatVector x;
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        c00.intoArray(t, 0 * NR + 0 * VL); c01.intoArray(t, 0 * NR + 1 * VL);
        c10.intoArray(t, 1 * NR + 0 * VL); c11.intoArray(t, 1 * NR + 1 * VL);
        c20.intoArray(t, 2 * NR + 0 * VL); c21.intoArray(t, 2 * NR + 1 * VL);
        c30.intoArray(t, 3 * NR + 0 * VL); c31.intoArray(t, 3 * NR + 1 * VL);
        c40.intoArray(t, 4 * NR + 0 * VL); c41.intoArray(t, 4 * NR + 1 * VL);
        c50.intoArray(t, 5 * NR + 0 * VL); c51.intoArray(t, 5 * NR + 1 * VL);
    }

    private static void kernel8x2(float[] ap, int aAt, long bAt, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        FloatVector b0, b1, x;
        long bBase = bAt - (long) aAt * B_PER_A;
        int end = aAt + MR * kc;
        int o = aAt;
        for (; o < end; o += MR) {
            long bq0 = bBase + (long) (o + 0) * B_PER_A;
            b0 = FloatVector.fromMemorySegment(S, ALL, bq0, LE);
            b1 = FloatVector.fromMemorySegment(S, ALL, bq0 + 1 * VB, LE);
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, ap[o + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, ap[o + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        c00.intoArray(t, 0); c01.intoArray(t, 1 * VL);
        c10.intoArray(t, 3 * VL); c11.intoArray(t, 4 * VL);
        c20.intoArray(t, 6 * VL); c21.intoArray(t, 7 * VL);
        c30.intoArray(t, 9 * VL); c31.intoArray(t, 10 * VL);
        c40.intoArray(t, 12 * VL); c41.intoArray(t, 13 * VL);
        c50.intoArray(t, 15 * VL); c51.intoArray(t, 16 * VL);
        c60.intoArray(t, 18 * VL); c61.intoArray(t, 19 * VL);
        c70.intoArray(t, 21 * VL); c71.intoArray(t, 22 * VL);
    }

    private static void kernel8x1(float[] ap, int aAt, long bAt, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S);
        FloatVector b0, x;
        long bBase = bAt - (long) aAt * B_PER_A;
        int end = aAt + MR * kc;
        int o = aAt;
        for (; o < end; o += MR) {
            long bq0 = bBase + (long) (o + 0) * B_PER_A;
            b0 = FloatVector.fromMemorySegment(S, ALL, bq0, LE);
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50);
            x = FloatVector.broadcast(S, ap[o + 6]);
            c60 = x.fma(b0, c60);
            x = FloatVector.broadcast(S, ap[o + 7]);
            c70 = x.fma(b0, c70);
        }
        c00.intoArray(t, 0);
        c10.intoArray(t, 3 * VL);
        c20.intoArray(t, 6 * VL);
        c30.intoArray(t, 9 * VL);
        c40.intoArray(t, 12 * VL);
        c50.intoArray(t, 15 * VL);
        c60.intoArray(t, 18 * VL);
        c70.intoArray(t, 21 * VL);
    }

    private static void kernel6x1(float[] ap, int aAt, long bAt, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            long bq = bAt + p * (long) (NR * 4);
            int o = aAt + p * MR;
            FloatVector b0 = FloatVector.fromMemorySegment(S, ALL, bq, LE);
            FloatVector x;
            x = FloatVector.broadcast(S, ap[o + 0]);
            c00 = x.fma(b0, c00);
            x = FloatVector.broadcast(S, ap[o + 1]);
            c10 = x.fma(b0, c10);
            x = FloatVector.broadcast(S, ap[o + 2]);
            c20 = x.fma(b0, c20);
            x = FloatVector.broadcast(S, ap[o + 3]);
            c30 = x.fma(b0, c30);
            x = FloatVector.broadcast(S, ap[o + 4]);
            c40 = x.fma(b0, c40);
            x = FloatVector.broadcast(S, ap[o + 5]);
            c50 = x.fma(b0, c50);
        }
        c00.intoArray(t, 0 * NR + 0 * VL);
        c10.intoArray(t, 1 * NR + 0 * VL);
        c20.intoArray(t, 2 * NR + 0 * VL);
        c30.intoArray(t, 3 * NR + 0 * VL);
        c40.intoArray(t, 4 * NR + 0 * VL);
        c50.intoArray(t, 5 * NR + 0 * VL);
    }

    /**
     * Combines the accumulated tile (element (r, j) at {@code tile[tOff + r*tld + j]}, readable up to the next
     * whole vector) with C on its valid {@code mr x nr} corner (C element (r, j) at
     * {@code c[cOff + r*ldc + j]}, output (row0 + r, col0 + j)): {@code v = alpha * acc}; on the first K block
     * {@code C = beta == 0 ? v : fma(C, beta, v)}, on later blocks {@code C = C + v}; with {@code epi} (last K block
     * only) the epilogue follows. Partial vectors are masked; every lane runs the same operations.
     */
    static void store(float[] tile, int tOff, int tld, int mr, int nr, float alpha, float beta, boolean first, Epilogue epi,
                      MemorySegment c, long cOff, long ldc, long row0, long col0) {
        if (mr <= 0 || nr <= 0) {
            return;
        }
        if (c.isNative() && (epi == null || epi.nativeOperands() && c.address() % 4 == 0
                && (epi.residual() == null || epi.residual().address() % 4 == 0))) {
            // C (and the epilogue's operands) through the constant all-memory segment, bounds checked once here.
            long base = address(c, cOff * 4, ((mr - 1) * ldc + nr) * 4, "C tile") - cOff * 4;
            if (epi != null) {
                storeFused(tile, tOff, tld, mr, nr, alpha, beta, first, base, cOff, ldc, epi, row0, col0);
                return;
            }
            storeRows(tile, tOff, tld, mr, nr, alpha, beta, first, ALL, base, cOff, ldc);
        } else {
            storeRows(tile, tOff, tld, mr, nr, alpha, beta, first, c, 0, cOff, ldc);
        }
        if (epi != null) {
            for (int r = 0; r < mr; r++) {
                // The row is in L1: the epilogue reads it back (its vectors never cross a call, see Epilogue#applyRow).
                epi.applyRow(c, cOff + r * ldc, row0 + r, col0, nr);
            }
        }
    }

    /** {@link #store}'s combination with C, C(r, j) at byte {@code base + (cOff + r*ldc + j) * 4} of {@code c}. */
    private static void storeRows(float[] tile, int tOff, int tld, int mr, int nr, float alpha, float beta, boolean first,
                                  MemorySegment c, long base, long cOff, long ldc) {
        boolean scale = alpha != 1f;
        boolean readC = !first || beta != 0f;
        int full = nr / VL * VL;
        for (int r = 0; r < mr; r++) {
            long rowAt = cOff + r * ldc;
            for (int j = 0; j < full; j += VL) {
                long at = base + (rowAt + j) * 4;
                FloatVector x = FloatVector.fromArray(S, tile, tOff + r * tld + j);
                if (scale) {
                    x = x.mul(alpha);
                }
                if (readC) {
                    FloatVector old = FloatVector.fromMemorySegment(S, c, at, LE);
                    x = first ? old.fma(FloatVector.broadcast(S, beta), x) : old.add(x);
                }
                x.intoMemorySegment(c, at, LE);
            }
            if (full < nr) {
                // The masked last vector, here rather than in a helper: a helper called once per row end stays
                // un-compiled where only a GEMV's last panel reaches it (a CNN's classifier), and boxes its vectors.
                // Its mask is made and used in this block only, so the loop above carries no mask phi.
                long at = base + (rowAt + full) * 4;
                VectorMask<Float> m = S.indexInRange(0, nr - full);
                FloatVector x = FloatVector.fromArray(S, tile, tOff + r * tld + full, m);
                if (scale) {
                    x = x.mul(alpha);
                }
                if (readC) {
                    FloatVector old = FloatVector.fromMemorySegment(S, c, at, LE, m);
                    x = first ? old.fma(FloatVector.broadcast(S, beta), x) : old.add(x);
                }
                x.intoMemorySegment(c, at, LE, m);
            }
        }
    }

    /**
     * {@link #store} with the epilogue applied to each vector before it is written (C native, the epilogue's
     * operands native): the same lane operations in the same order as storing and then {@link Epilogue#applyRow},
     * so the bits are equal; only a heavy activation (Gelu) reads the row back.
     */
    private static void storeFused(float[] tile, int tOff, int tld, int mr, int nr, float alpha, float beta, boolean first,
                                   long base, long cOff, long ldc, Epilogue epi, long row0, long col0) {
        boolean scale = alpha != 1f;
        boolean readC = !first || beta != 0f;
        Epilogue.Activation act = epi.activation();
        int heavy = act == Epilogue.Activation.GELU ? VectorMath.GELU : act == Epilogue.Activation.GELU_TANH ? VectorMath.GELU_TANH : -1;
        float lo = epi.p();
        float hi = epi.q();
        MemorySegment bias = epi.bias();
        boolean colBias = bias != null && !epi.biasPerRow();
        long biasA = colBias ? address(bias, (epi.biasOffset() + col0) * 4, nr * 4L, "bias") : 0;
        MemorySegment res = epi.residual();
        long stride = epi.residualStride();
        long resA = res == null ? 0
                : address(res, (epi.residualOffset() + row0 * stride + col0) * 4, ((mr - 1) * stride + nr) * 4, "residual");
        for (int r = 0; r < mr; r++) {
            long rowAt = base + (cOff + r * ldc) * 4;
            float rowBias = bias != null && !colBias ? bias.getAtIndex(Tensor.F32, epi.biasOffset() + row0 + r) : 0f;
            long resRow = resA + r * stride * 4;
            for (int j = 0; j < nr; j += VL) {
                VectorMask<Float> m = S.indexInRange(j, nr);
                long at = rowAt + j * 4L;
                FloatVector x = FloatVector.fromArray(S, tile, tOff + r * tld + j, m);
                if (scale) {
                    x = x.mul(alpha);
                }
                if (readC) {
                    FloatVector old = FloatVector.fromMemorySegment(S, ALL, at, LE, m);
                    x = first ? old.fma(FloatVector.broadcast(S, beta), x) : old.add(x);
                }
                if (colBias) {
                    x = x.add(FloatVector.fromMemorySegment(S, ALL, biasA + j * 4L, LE, m));
                } else if (bias != null) {
                    x = x.add(rowBias);
                }
                switch (act) {
                    case RELU -> x = x.max(0f);
                    case CLIP -> x = x.max(lo).min(hi);
                    case LEAKY_RELU -> x = x.blend(x.mul(lo), x.compare(jdk.incubator.vector.VectorOperators.LT, 0f));
                    default -> { }
                }
                if (res != null && heavy < 0) {
                    x = x.add(FloatVector.fromMemorySegment(S, ALL, resRow + j * 4L, LE, m));
                }
                x.intoMemorySegment(ALL, at, LE, m);
            }
            if (heavy >= 0) {
                // Gelu in a second pass over the row (in L1), as Epilogue#applyRow does: a vector passed to a
                // function the JIT does not inline here would be boxed.
                VectorMath.apply(heavy, ALL, rowAt / 4, ALL, rowAt / 4, nr, res == null ? null : ALL, resRow / 4);
            }
        }
    }
}
