package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
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
 * 65025 and a sum of 256 of them stays below 2^24 = 16777216: float adds and FMAs on such sums are exact.
 * The kernel therefore accumulates at most {@link #KC} = 256 products in float, converts to int32 (exactly)
 * and adds in int32 (wrapping like the C kernel), giving x bit for bit.
 *
 * <p>GEMM (2 rows or more): the loop nest of {@link Sgemm}: B blocks [KC x NC] converted from s8 to float
 * panels of {@link #NR} columns with zb subtracted (once per block, shared by all rows), A blocks [MC x KC]
 * converted with za subtracted into panels of {@link #MR} rows, a 6 x 2-vector FMA micro-kernel, and the
 * float tile added into an int32 accumulator block [rows x NC]; the epilogue then writes that block out.
 * Its speed is the float GEMM's (same kernel) with a quarter of the weight bytes to read.
 *
 * <p>GEMV (1 row): streams the s8 weights row by row (4x less traffic than float weights):
 * {@code acc[j] += (a_p - za) * B[p][j]} for 4 rows p at a time, 16 bytes of B widened to 16 floats per
 * vector, flushed to int32 every 256 rows; zb is applied once at the end as {@code - zb_j * sum_p (a_p - za)}.
 */
final class IgemmPortable {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Bytes that widen to one float vector. */
    private static final VectorSpecies<Byte> SB1 = ByteVector.SPECIES_128.length() == VL ? ByteVector.SPECIES_128
            : VectorSpecies.of(byte.class, VectorShape.forBitSize(VL * 8));
    /** Bytes that widen to two float vectors (one B panel row). */
    private static final VectorSpecies<Byte> SB2 = VectorSpecies.of(byte.class, VectorShape.forBitSize(2 * VL * 8));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final int MR = 6;
    static final int NR = 2 * VL;
    /** Products summed in float before the int32 flush (exactness bound, see the class comment). */
    static final int KC = 256;
    static final int MC = 16 * MR;
    static final int NC = 8 * NR;

    private static final class Scratch {
        float[] bp = new float[0];
        float[] ap = new float[0];
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
        if (s.bp.length < KC * ncMax) {
            s.bp = new float[KC * ncMax];
        }
        if (s.ap.length < KC * MC) {
            s.ap = new float[KC * MC];
        }
        if (s.acc.length < rows * ncMax) {
            s.acc = new int[rows * ncMax];
        }
        int[] acc = s.acc;
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            int ncp = Igemm.roundUp(nc, NR);
            Arrays.fill(acc, 0, rows * ncp, 0);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                packB(w, pc, kc, jc, nc, s.bp);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(a, ic, mc, pc, kc, s.ap);
                    for (int jr = 0; jr < ncp; jr += NR) {
                        for (int ir = 0; ir < mc; ir += MR) {
                            kernel(s.ap, ir * kc, s.bp, jr * kc, kc, s.tile);
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
        for (int pc = 0; pc < k; pc += KC) {
            int pEnd = Math.min(k, pc + KC);
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
    private static void packB(Igemm.Weights w, int pc, int kc, int jc, int nc, float[] bp) {
        MemorySegment b = w.packed;
        int n = w.n;
        int[] zb = w.zb;
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int base = jr * kc;
            FloatVector z0 = zb == null ? null : FloatVector.fromArray(S, w.zbFloat, jc + jr);
            FloatVector z1 = zb == null ? null : FloatVector.fromArray(S, w.zbFloat, jc + jr + VL);
            for (int p = 0; p < kc; p++) {
                long src = (long) (pc + p) * n + jc + jr;
                int dst = base + p * NR;
                if (nr == NR) {
                    ByteVector bv = ByteVector.fromMemorySegment(SB2, b, src, LE);
                    FloatVector f0 = (FloatVector) bv.convertShape(VectorOperators.B2F, S, 0);
                    FloatVector f1 = (FloatVector) bv.convertShape(VectorOperators.B2F, S, 1);
                    if (zb != null) {
                        f0 = f0.sub(z0);
                        f1 = f1.sub(z1);
                    }
                    f0.intoArray(bp, dst);
                    f1.intoArray(bp, dst + VL);
                } else {
                    for (int j = 0; j < nr; j++) {
                        bp[dst + j] = b.get(ValueLayout.JAVA_BYTE, src + j) - (zb == null ? 0 : zb[jc + jr + j]);
                    }
                    for (int j = nr; j < NR; j++) {
                        bp[dst + j] = 0f;
                    }
                }
            }
        }
    }

    /** (A[ic:ic+mc, pc:pc+kc] - za) as float panels of MR rows: panel q holds ap[q*MR*kc + p*MR + r]; edges zero. */
    private static void packA(Igemm.Lhs a, int ic, int mc, int pc, int kc, float[] ap) {
        MemorySegment as = a.data();
        boolean signed = a.signed();
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int base = ir * kc;
            for (int r = 0; r < mr; r++) {
                int za = a.zeroPoint(ic + ir + r);
                long src = a.offset() + (long) (ic + ir + r) * a.rowStride() + pc;
                for (int p = 0; p < kc; p++) {
                    byte v = as.get(ValueLayout.JAVA_BYTE, src + p);
                    ap[base + p * MR + r] = (signed ? v : v & 0xff) - za;
                }
            }
            for (int r = mr; r < MR; r++) {
                for (int p = 0; p < kc; p++) {
                    ap[base + p * MR + r] = 0f;
                }
            }
        }
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

    /** The MR x NR float micro-kernel: {@code tile = Ap[MR, kc] x Bp[kc, NR]} (as in {@link Sgemm}). */
    private static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bo);
            FloatVector b1 = FloatVector.fromArray(S, bp, bo + VL);
            FloatVector av = FloatVector.broadcast(S, ap[ao]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            ao += MR;
            bo += NR;
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, VL);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + VL);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + VL);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + VL);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + VL);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + VL);
    }
}
