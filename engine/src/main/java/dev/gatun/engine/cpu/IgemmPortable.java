package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The portable integer GEMM of {@link Igemm} (any CPU, Vector API), exact in int32 through float arithmetic.
 *
 * <p>Why float: the Vector API has no u8 x s8 dot product, and widening to int32 multiplies runs well below the
 * float FMA rate. Every difference a - za and b - zb lies in [-255, 255], so a product is an integer of at most
 * 65025 and a sum of 256 of them stays below 2^24 = 16777216: float adds and FMAs on such sums are exact. With
 * the usual symmetric weights (zb = 0 in the s8 domain, |b| <= 128) a product is at most 255 * 128 = 32640 and
 * 512 of them stay below 2^24. The kernel therefore accumulates at most {@link #KC_SYMMETRIC} = 512 (or
 * {@link #KC} = 256 when some zb is not 0) products in float, converts to int32 (exactly) and adds in int32
 * (wrapping like the C kernel), giving x bit for bit.
 *
 * <p>GEMM (2 rows or more): the loop nest of {@link Sgemm} around its micro-kernel ({@link SgemmKernel#kernel},
 * 8 rows x 3 vectors with 512-bit vectors): B blocks [KC x NC] widened from s8 to float panels of {@link #NR}
 * columns with zb subtracted (once per block, shared by all rows), A blocks [MC x KC] widened with za subtracted,
 * and each float tile added into an int32 accumulator block [rows x NC]; the epilogue then writes that block out.
 * Its speed is the float GEMM's (same kernel) with a quarter of the weight bytes to read.
 *
 * <p>GEMV (1 row): streams the s8 weights row by row (4x less traffic than float weights):
 * {@code acc[j] += (a_p - za) * B[p][j]} for 4 rows p at a time, 16 bytes of B widened to 16 floats per
 * vector, flushed to int32 every 512 rows (raw s8 weights: products of at most 255 * 128); zb is applied once at the end as {@code - zb_j * sum_p (a_p - za)}.
 */
final class IgemmPortable {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Bytes that widen to one float vector. */
    private static final VectorSpecies<Byte> SB1 = ByteVector.SPECIES_128.length() == VL ? ByteVector.SPECIES_128
            : VectorSpecies.of(byte.class, VectorShape.forBitSize(VL * 8));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final int MR = SgemmKernel.MR;
    static final int NR = SgemmKernel.NR;
    /** Products summed in float before the int32 flush (exactness bound, see the class comment). */
    static final int KC = 256;
    /** The same bound for weights with no zero point (Sgemm's own K block). */
    static final int KC_SYMMETRIC = 512;
    static final int MC = SgemmKernel.MC;
    static final int NC = 8 * NR;

    private static final class Scratch {
        MemorySegment bSeg = MemorySegment.NULL;
        MemorySegment aSeg = MemorySegment.NULL;
        int[] acc = new int[0];
        float[] tile = new float[MR * NR];
        float[] fa = new float[0];
        int[] ia = new int[0];
        float[] av = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private IgemmPortable() {}

    /** Rows [i0, i1) x columns [j0, j1) of the product (see {@link Igemm}). */
    static void gemm(int i0, int i1, int j0, int j1, Igemm.Lhs a, Igemm.Weights w, Igemm.Output out) {
        if (i1 - i0 == 1) {
            gemv(i0, j0, j1, a, w, out);
            return;
        }
        Scratch s = SCRATCH.get();
        int k = w.k;
        int rows = i1 - i0;
        int ncMax = Math.min(NC, Igemm.roundUp(j1 - j0, NR));
        // Native scratch, as Sgemm's operands are: a heap segment here would make the shared micro-kernel see two
        // segment classes and lose its specialisation for both callers.
        int kcMax = w.zb == null ? KC_SYMMETRIC : KC;
        if (s.bSeg.byteSize() < 4L * kcMax * ncMax) {
            s.bSeg = Arena.ofAuto().allocate(4L * kcMax * ncMax, 64);
        }
        if (s.aSeg.byteSize() < 4L * kcMax * MC) {
            s.aSeg = Arena.ofAuto().allocate(4L * kcMax * MC, 64);
        }
        if (s.acc.length < rows * ncMax) {
            s.acc = new int[rows * ncMax];
        }
        int[] acc = s.acc;
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            int ncp = Igemm.roundUp(nc, NR);
            Arrays.fill(acc, 0, rows * ncp, 0);
            for (int pc = 0; pc < k; pc += kcMax) {
                int kc = Math.min(kcMax, k - pc);
                packB(w, pc, kc, jc, nc, s.bSeg);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(a, ic, mc, pc, kc, s.aSeg);
                    for (int jr = 0; jr < ncp; jr += NR) {
                        for (int ir = 0; ir < mc; ir += MR) {
                            SgemmKernel.kernel(s.aSeg, ir * kc * 4L, kc * 4L, 4, s.bSeg, jr * kc * 4L, kc, NR, s.tile);
                            addTile(s.tile, acc, (ic - i0 + ir) * ncp + jr, ncp, Math.min(MR, mc - ir));
                        }
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                epilogue(acc, r * ncp, nc, i0 + r, jc, out);
            }
        }
    }

    /** The one-row product, streaming B (see the class comment). */
    private static void gemv(int i, int j0, int j1, Igemm.Lhs a, Igemm.Weights w, Igemm.Output out) {
        Scratch s = SCRATCH.get();
        int k = w.k;
        int n = w.n;
        int cols = j1 - j0;
        if (s.fa.length < cols) {
            s.fa = new float[cols];
            s.ia = new int[cols];
        }
        if (s.av.length < k) {
            s.av = new float[k];
        }
        float[] fa = s.fa;
        int[] ia = s.ia;
        float[] av = s.av;
        int za = a.zeroPoint(i);
        long row = a.offset() + i * a.rowStride();
        MemorySegment as = a.data();
        int sumA = 0;
        for (int p = 0; p < k; p++) {
            byte v = as.get(ValueLayout.JAVA_BYTE, row + p);
            int d = (a.signed() ? v : v & 0xff) - za;
            av[p] = d;
            sumA += d;
        }
        Arrays.fill(ia, 0, cols, 0);
        MemorySegment b = w.packed;
        int vecEnd = j0 + (cols / VL) * VL;
        for (int pc = 0; pc < k; pc += KC_SYMMETRIC) {
            int pEnd = Math.min(k, pc + KC_SYMMETRIC);
            Arrays.fill(fa, 0, cols, 0f);
            int p = pc;
            for (; p + 4 <= pEnd; p += 4) {
                FloatVector a0 = FloatVector.broadcast(S, av[p]);
                FloatVector a1 = FloatVector.broadcast(S, av[p + 1]);
                FloatVector a2 = FloatVector.broadcast(S, av[p + 2]);
                FloatVector a3 = FloatVector.broadcast(S, av[p + 3]);
                long r0 = (long) p * n;
                int j = j0;
                for (; j < vecEnd; j += VL) {
                    FloatVector f = FloatVector.fromArray(S, fa, j - j0);
                    f = widen(b, r0 + j).fma(a0, f);
                    f = widen(b, r0 + n + j).fma(a1, f);
                    f = widen(b, r0 + 2L * n + j).fma(a2, f);
                    f = widen(b, r0 + 3L * n + j).fma(a3, f);
                    f.intoArray(fa, j - j0);
                }
                for (; j < j1; j++) {
                    float f = fa[j - j0];
                    f = Math.fma(b.get(ValueLayout.JAVA_BYTE, r0 + j), av[p], f);
                    f = Math.fma(b.get(ValueLayout.JAVA_BYTE, r0 + n + j), av[p + 1], f);
                    f = Math.fma(b.get(ValueLayout.JAVA_BYTE, r0 + 2L * n + j), av[p + 2], f);
                    f = Math.fma(b.get(ValueLayout.JAVA_BYTE, r0 + 3L * n + j), av[p + 3], f);
                    fa[j - j0] = f;
                }
            }
            for (; p < pEnd; p++) {
                FloatVector a0 = FloatVector.broadcast(S, av[p]);
                long r0 = (long) p * n;
                int j = j0;
                for (; j < vecEnd; j += VL) {
                    widen(b, r0 + j).fma(a0, FloatVector.fromArray(S, fa, j - j0)).intoArray(fa, j - j0);
                }
                for (; j < j1; j++) {
                    fa[j - j0] = Math.fma(b.get(ValueLayout.JAVA_BYTE, r0 + j), av[p], fa[j - j0]);
                }
            }
            int j = 0;
            for (; j <= cols - VL; j += VL) {
                IntVector.fromArray(SI, ia, j).add((IntVector) FloatVector.fromArray(S, fa, j).convert(VectorOperators.F2I, 0))
                        .intoArray(ia, j);
            }
            for (; j < cols; j++) {
                ia[j] += (int) fa[j];
            }
        }
        if (w.zb != null) {
            for (int j = 0; j < cols; j++) {
                ia[j] -= w.zb[j0 + j] * sumA;
            }
        }
        epilogue(ia, 0, cols, i, j0, out);
    }

    /** VL s8 bytes at {@code off} of {@code b} as floats. */
    private static FloatVector widen(MemorySegment b, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(SB1, b, off, LE).convertShape(VectorOperators.B2F, S, 0);
    }

    /** Writes row i, columns j..j+count-1, from the int32 values x[xOff..] through the output's epilogue. */
    private static void epilogue(int[] x, int xOff, int count, int i, int j, Igemm.Output out) {
        MemorySegment o = out.data();
        long base = out.offset() + i * out.rowStride() + j;
        int c = 0;
        if (out.mode() == Igemm.Mode.INT32) {
            for (; c <= count - VL; c += VL) {
                IntVector.fromArray(SI, x, xOff + c).intoMemorySegment(o, (base + c) * 4, LE);
            }
            for (; c < count; c++) {
                o.setAtIndex(Tensor.I32, base + c, x[xOff + c]);
            }
            return;
        }
        MemorySegment cs = out.colScale();
        MemorySegment bias = out.bias();
        boolean hasBias = !bias.equals(MemorySegment.NULL);
        boolean relu = out.mode() == Igemm.Mode.FLOAT_RELU;
        FloatVector as = FloatVector.broadcast(S, out.aScale());
        FloatVector zero = FloatVector.zero(S);
        for (; c <= count - VL; c += VL) {
            FloatVector scale = as.mul(FloatVector.fromMemorySegment(S, cs, (j + c) * 4L, LE));
            FloatVector y = ((FloatVector) IntVector.fromArray(SI, x, xOff + c).convert(VectorOperators.I2F, 0)).mul(scale);
            if (hasBias) {
                y = y.add(FloatVector.fromMemorySegment(S, bias, (j + c) * 4L, LE));
            }
            if (relu) {
                y = y.max(zero);
            }
            y.intoMemorySegment(o, (base + c) * 4, LE);
        }
        for (; c < count; c++) {
            float y = (float) x[xOff + c] * (out.aScale() * cs.getAtIndex(Tensor.F32, j + c));
            if (hasBias) {
                y = y + bias.getAtIndex(Tensor.F32, j + c);
            }
            if (relu) {
                y = Math.max(y, 0f);
            }
            o.setAtIndex(Tensor.F32, base + c, y);
        }
    }

    /** B[pc:pc+kc, jc:jc+nc] - zb as float panels of NR columns: panel q holds bp[q*NR*kc + p*NR + j]; edges zero. */
    private static void packB(Igemm.Weights w, int pc, int kc, int jc, int nc, MemorySegment bp) {
        MemorySegment b = w.packed;
        int n = w.n;
        int[] zb = w.zb;
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int base = jr * kc;
            for (int p = 0; p < kc; p++) {
                long src = (long) (pc + p) * n + jc + jr;
                int dst = base + p * NR;
                if (nr == NR) {
                    for (int v = 0; v < NR; v += VL) {
                        FloatVector f = widen(b, src + v);
                        if (zb != null) {
                            f = f.sub(FloatVector.fromArray(S, w.zbFloat, jc + jr + v));
                        }
                        f.intoMemorySegment(bp, (dst + v) * 4L, LE);
                    }
                } else {
                    for (int j = 0; j < nr; j++) {
                        bp.setAtIndex(Tensor.F32, dst + j, b.get(ValueLayout.JAVA_BYTE, src + j) - (zb == null ? 0 : zb[jc + jr + j]));
                    }
                    for (int j = nr; j < NR; j++) {
                        bp.setAtIndex(Tensor.F32, dst + j, 0f);
                    }
                }
            }
        }
    }

    /**
     * (A[ic:ic+mc, pc:pc+kc] - za) as floats, row r at ap[r*kc]; rows up to the next multiple of MR are zero (the
     * micro-kernel reads whole MR-row panels, with row stride kc and column stride 1).
     */
    private static void packA(Igemm.Lhs a, int ic, int mc, int pc, int kc, MemorySegment ap) {
        MemorySegment as = a.data();
        boolean signed = a.signed();
        for (int r = 0; r < mc; r++) {
            int za = a.zeroPoint(ic + r);
            long src = a.offset() + (long) (ic + r) * a.rowStride() + pc;
            int dst = r * kc;
            int p = 0;
            if (!signed) {
                // u8 read as s8 after flipping the top bit (value - 128): the exact offset is 128 - za.
                FloatVector off = FloatVector.broadcast(S, 128 - za);
                for (; p <= kc - VL; p += VL) {
                    ByteVector bv = ByteVector.fromMemorySegment(SB1, as, src + p, LE).lanewise(VectorOperators.XOR, (byte) 0x80);
                    ((FloatVector) bv.convertShape(VectorOperators.B2F, S, 0)).add(off).intoMemorySegment(ap, (dst + p) * 4L, LE);
                }
            } else {
                FloatVector off = FloatVector.broadcast(S, -za);
                for (; p <= kc - VL; p += VL) {
                    widen(as, src + p).add(off).intoMemorySegment(ap, (dst + p) * 4L, LE);
                }
            }
            for (; p < kc; p++) {
                byte v = as.get(ValueLayout.JAVA_BYTE, src + p);
                ap.setAtIndex(Tensor.F32, dst + p, (signed ? v : v & 0xff) - za);
            }
        }
        int padded = Igemm.roundUp(mc, MR);
        ap.asSlice(4L * mc * kc, 4L * (padded - mc) * kc).fill((byte) 0);
    }

    /** Adds the exact integer float tile (rows < mr) to the int32 accumulator block. */
    private static void addTile(float[] tile, int[] acc, int at, int ld, int mr) {
        for (int r = 0; r < mr; r++) {
            for (int j = 0; j < NR; j += VL) {
                int o = at + r * ld + j;
                IntVector.fromArray(SI, acc, o).add((IntVector) FloatVector.fromArray(S, tile, r * NR + j).convert(VectorOperators.F2I, 0))
                        .intoArray(acc, o);
            }
        }
    }
}
