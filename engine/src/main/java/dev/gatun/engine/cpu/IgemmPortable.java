package dev.gatun.engine.cpu;

import dev.gatun.engine.NativeMemory;
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
 * <p>Weights are stored in panels of {@link #PANEL} (= one float vector of) columns, each panel [K][PANEL] s8, so
 * that a panel is one sequential stream of bytes. GEMV (1 row) streams them (4x less traffic than float
 * weights): per panel, {@code acc += (a_p - za) * B[p][panel]} with 16 bytes widened to 16 floats per row and four
 * accumulators (rows p mod 4), flushed to int32 every 4 x 512 rows (raw s8 weights: products of at most
 * 255 * 128); zb is applied once at the end as {@code - zb_j * sum_p (a_p - za)}.
 */
final class IgemmPortable {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Bytes that widen to one float vector. */
    private static final VectorSpecies<Byte> SB1 = ByteVector.SPECIES_128.length() == VL ? ByteVector.SPECIES_128
            : VectorSpecies.of(byte.class, VectorShape.forBitSize(VL * 8));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Columns per packed weight panel: the weights are stored panel by panel, each [K][PANEL] s8 (zero padded). */
    static final int PANEL = VL;
    static final int MR = SgemmKernel.MR;
    static final int NR = SgemmKernel.NR;
    /** Products summed in float before the int32 flush (exactness bound, see the class comment). */
    static final int KC = 256;
    /** The same bound for weights with no zero point (Sgemm's own K block). */
    static final int KC_SYMMETRIC = 512;
    static final int MC = SgemmKernel.MC;
    static final int NC = 8 * NR;
    /** Most rows per call for which B is widened in registers rather than packed as floats. */
    static final int DIRECT_ROWS = 256;

    private static final class Scratch {
        MemorySegment bSeg = MemorySegment.NULL;
        MemorySegment aSeg = MemorySegment.NULL;
        int[] acc = new int[0];
        float[] tile = new float[MR * NR];
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
        // Direct (few rows): the 8 x 3 kernel widens B's bytes in registers, no float copy of B to write and read
        // back; its products are of raw s8 weights (|b| <= 128) and zb is subtracted afterwards, so K blocks of 512
        // are always exact. Many rows: B widened once into float panels for Sgemm's micro-kernel, the conversion
        // amortised over all rows (measured: direct is faster in MiniLM at 128 rows, packed at 1024).
        boolean direct = SgemmKernel.WIDE && rows <= DIRECT_ROWS;
        int kcMax = direct || w.zb == null ? KC_SYMMETRIC : KC;
        // Native scratch, as Sgemm's operands are: a heap segment here would make the shared micro-kernel see two
        // segment classes and lose its specialisation for both callers.
        if (!direct && s.bSeg.byteSize() < 4L * kcMax * ncMax) {
            s.bSeg = NativeMemory.allocateScratch(4L * kcMax * ncMax);
        }
        if (s.aSeg.byteSize() < 4L * kcMax * MC) {
            s.aSeg = NativeMemory.allocateScratch(4L * kcMax * MC);
        }
        if (s.acc.length < rows * ncMax) {
            s.acc = new int[rows * ncMax];
        }
        int[] acc = s.acc;
        int[] rowSums = direct && w.zb != null ? rowSums(a, i0, i1, k) : null;
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            int ncp = Igemm.roundUp(nc, NR);
            Arrays.fill(acc, 0, rows * ncp, 0);
            for (int pc = 0; pc < k; pc += kcMax) {
                int kc = Math.min(kcMax, k - pc);
                if (!direct) {
                    packB(w, pc, kc, jc, nc, s.bSeg);
                }
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(a, ic, mc, pc, kc, s.aSeg);
                    for (int jr = 0; jr < ncp; jr += NR) {
                        long b0 = (long) ((jc + jr) / PANEL) * k * PANEL + (long) pc * PANEL;
                        for (int ir = 0; ir < mc; ir += MR) {
                            if (direct) {
                                kernelDirect(s.aSeg, ir * kc * 4L, kc * 4L, w.packed, b0, (long) k * PANEL, kc, s.tile);
                            } else {
                                SgemmKernel.kernel(s.aSeg, ir * kc * 4L, kc * 4L, 4, s.bSeg, jr * kc * 4L, kc, NR, s.tile);
                            }
                            addTile(s.tile, acc, (ic - i0 + ir) * ncp + jr, ncp, Math.min(MR, mc - ir));
                        }
                    }
                }
            }
            if (rowSums != null) {
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < nc; j++) {
                        acc[r * ncp + j] -= w.zb[jc + j] * rowSums[r];
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                epilogue(acc, r * ncp, nc, i0 + r, jc, out);
            }
            if (out.post() != null) {
                out.post().apply(out.data(), out.offset() + i0 * out.rowStride() + jc, out.rowStride(), rows, nc, i0, jc);
            }
        }
    }

    /** sum_p (A[i][p] - za_i) for rows [i0, i1). */
    private static int[] rowSums(Igemm.Lhs a, int i0, int i1, int k) {
        int[] rs = new int[i1 - i0];
        MemorySegment as = a.data();
        for (int i = i0; i < i1; i++) {
            long src = a.offset() + (long) i * a.rowStride();
            int sum = 0;
            for (int p = 0; p < k; p++) {
                byte v = as.get(ValueLayout.JAVA_BYTE, src + p);
                sum += a.signed() ? v : v & 0xff;
            }
            rs[i - i0] = sum - k * a.zeroPoint(i);
        }
        return rs;
    }

    /**
     * The 8 x 3-vector micro-kernel on raw s8 weights: {@code tile[8, 48] = A[8, kc] x B[kc, 48]} with A(r, p) the
     * float at byte {@code aAt + r*rs + p*4} of {@code a} and B's three 16-column sub-panels at bytes {@code b0},
     * {@code b0 + panelStride}, {@code b0 + 2*panelStride} of {@code b} (16 bytes per row), each row widened to
     * floats in registers. Same FMA order as {@link SgemmKernel}'s.
     */
    private static void kernelDirect(MemorySegment a, long aAt, long rs, MemorySegment b, long b0, long panelStride, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S), c22 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S), c32 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S), c42 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S), c52 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S), c62 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S), c72 = FloatVector.zero(S);
        long a0 = aAt, a1 = a0 + rs, a2 = a1 + rs, a3 = a2 + rs, a4 = a3 + rs, a5 = a4 + rs, a6 = a5 + rs, a7 = a6 + rs;
        long b1 = b0 + panelStride;
        long b2 = b1 + panelStride;
        for (int p = 0; p < kc; p++) {
            long bq = (long) p * PANEL;
            long aq = p * 4L;
            FloatVector x0 = widen(b, b0 + bq);
            FloatVector x1 = widen(b, b1 + bq);
            FloatVector x2 = widen(b, b2 + bq);
            FloatVector y;
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a0 + aq));
            c00 = y.fma(x0, c00); c01 = y.fma(x1, c01); c02 = y.fma(x2, c02);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a1 + aq));
            c10 = y.fma(x0, c10); c11 = y.fma(x1, c11); c12 = y.fma(x2, c12);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a2 + aq));
            c20 = y.fma(x0, c20); c21 = y.fma(x1, c21); c22 = y.fma(x2, c22);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a3 + aq));
            c30 = y.fma(x0, c30); c31 = y.fma(x1, c31); c32 = y.fma(x2, c32);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a4 + aq));
            c40 = y.fma(x0, c40); c41 = y.fma(x1, c41); c42 = y.fma(x2, c42);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a5 + aq));
            c50 = y.fma(x0, c50); c51 = y.fma(x1, c51); c52 = y.fma(x2, c52);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a6 + aq));
            c60 = y.fma(x0, c60); c61 = y.fma(x1, c61); c62 = y.fma(x2, c62);
            y = FloatVector.broadcast(S, a.get(Tensor.F32, a7 + aq));
            c70 = y.fma(x0, c70); c71 = y.fma(x1, c71); c72 = y.fma(x2, c72);
        }
        int v = VL;
        c00.intoArray(t, 0); c01.intoArray(t, v); c02.intoArray(t, 2 * v);
        c10.intoArray(t, 3 * v); c11.intoArray(t, 4 * v); c12.intoArray(t, 5 * v);
        c20.intoArray(t, 6 * v); c21.intoArray(t, 7 * v); c22.intoArray(t, 8 * v);
        c30.intoArray(t, 9 * v); c31.intoArray(t, 10 * v); c32.intoArray(t, 11 * v);
        c40.intoArray(t, 12 * v); c41.intoArray(t, 13 * v); c42.intoArray(t, 14 * v);
        c50.intoArray(t, 15 * v); c51.intoArray(t, 16 * v); c52.intoArray(t, 17 * v);
        c60.intoArray(t, 18 * v); c61.intoArray(t, 19 * v); c62.intoArray(t, 20 * v);
        c70.intoArray(t, 21 * v); c71.intoArray(t, 22 * v); c72.intoArray(t, 23 * v);
    }

    /**
     * The one-row product, streaming B: per panel of PANEL columns, one pass down its K rows (a single sequential
     * stream of bytes), four accumulator vectors for rows p mod 4, flushed to int32 every 4 * 512 rows.
     */
    private static void gemv(int i, int j0, int j1, Igemm.Lhs a, Igemm.Weights w, Igemm.Output out) {
        Scratch s = SCRATCH.get();
        int k = w.k;
        int cols = j1 - j0;
        int panels = (cols + PANEL - 1) / PANEL;
        if (s.ia.length < panels * PANEL) {
            s.ia = new int[panels * PANEL];
        }
        if (s.av.length < k) {
            s.av = new float[k];
        }
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
        MemorySegment b = w.packed;
        for (int q = 0; q < panels; q++) {
            panelDot(b, (long) (j0 / PANEL + q) * k * PANEL, k, av, ia, q * PANEL);
        }
        if (w.zb != null) {
            for (int j = 0; j < cols; j++) {
                ia[j] -= w.zb[j0 + j] * sumA;
            }
        }
        epilogue(ia, 0, cols, i, j0, out);
        if (out.post() != null) {
            out.post().apply(out.data(), out.offset() + i * out.rowStride() + j0, out.rowStride(), 1, cols, i, j0);
        }
    }

    /** ia[at..at+PANEL) = sum_p av[p] * panel[p][..] for the panel of k rows starting at byte {@code base}. */
    private static void panelDot(MemorySegment b, long base, int k, float[] av, int[] ia, int at) {
        IntVector sum = IntVector.zero(SI);
        for (int p0 = 0; p0 < k; p0 += 4 * KC_SYMMETRIC) {
            int end = Math.min(k, p0 + 4 * KC_SYMMETRIC);
            FloatVector c0 = FloatVector.zero(S);
            FloatVector c1 = FloatVector.zero(S);
            FloatVector c2 = FloatVector.zero(S);
            FloatVector c3 = FloatVector.zero(S);
            int p = p0;
            for (; p + 4 <= end; p += 4) {
                long at0 = base + (long) p * PANEL;
                c0 = widen(b, at0).fma(FloatVector.broadcast(S, av[p]), c0);
                c1 = widen(b, at0 + PANEL).fma(FloatVector.broadcast(S, av[p + 1]), c1);
                c2 = widen(b, at0 + 2 * PANEL).fma(FloatVector.broadcast(S, av[p + 2]), c2);
                c3 = widen(b, at0 + 3 * PANEL).fma(FloatVector.broadcast(S, av[p + 3]), c3);
            }
            for (; p < end; p++) {
                c0 = widen(b, base + (long) p * PANEL).fma(FloatVector.broadcast(S, av[p]), c0);
            }
            sum = sum.add((IntVector) c0.convert(VectorOperators.F2I, 0)).add((IntVector) c1.convert(VectorOperators.F2I, 0))
                    .add((IntVector) c2.convert(VectorOperators.F2I, 0)).add((IntVector) c3.convert(VectorOperators.F2I, 0));
        }
        sum.intoArray(ia, at);
    }

    /**
     * VL s8 bytes at {@code off} of {@code b} as floats. Widened to int32 first, then converted: the JIT compiles that
     * pair to a sign-extending load and one conversion, faster than its B2F (measured 0.6 vs 0.9 ms on the
     * 4096 x 4096 GEMV streaming from DRAM).
     */
    private static FloatVector widen(MemorySegment b, long off) {
        IntVector i = (IntVector) ByteVector.fromMemorySegment(SB1, b, off, LE).convertShape(VectorOperators.B2I, SI, 0);
        return (FloatVector) i.convert(VectorOperators.I2F, 0);
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
        float rowScale = out.aScale(i);
        FloatVector as = FloatVector.broadcast(S, rowScale);
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
            float y = (float) x[xOff + c] * (rowScale * cs.getAtIndex(Tensor.F32, j + c));
            if (hasBias) {
                y = y + bias.getAtIndex(Tensor.F32, j + c);
            }
            if (relu) {
                y = Math.max(y, 0f);
            }
            o.setAtIndex(Tensor.F32, base + c, y);
        }
    }

    /**
     * B[pc:pc+kc, jc:jc+nc] - zb as float panels of NR columns: panel q holds bp[q*NR*kc + p*NR + j]; columns past
     * the weights' zero-padded panels are zero. jc is a multiple of PANEL.
     */
    private static void packB(Igemm.Weights w, int pc, int kc, int jc, int nc, MemorySegment bp) {
        MemorySegment b = w.packed;
        int k = w.k;
        int nPadded = Igemm.roundUp(w.n, PANEL);
        int[] zb = w.zb;
        for (int jr = 0; jr < nc; jr += NR) {
            int base = jr * kc;
            for (int v = 0; v < NR; v += VL) {
                int col = jc + jr + v;
                if (col >= nPadded) {
                    for (int p = 0; p < kc; p++) {
                        FloatVector.zero(S).intoMemorySegment(bp, (base + p * NR + v) * 4L, LE);
                    }
                    continue;
                }
                long src = (long) (col / PANEL) * k * PANEL + (long) pc * PANEL;
                FloatVector z = zb == null ? null : FloatVector.fromArray(S, w.zbFloat, col);
                for (int p = 0; p < kc; p++) {
                    FloatVector f = widen(b, src + (long) p * PANEL);
                    if (z != null) {
                        f = f.sub(z);
                    }
                    f.intoMemorySegment(bp, (base + p * NR + v) * 4L, LE);
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
                    IntVector iv = (IntVector) bv.convertShape(VectorOperators.B2I, SI, 0);
                    ((FloatVector) iv.convert(VectorOperators.I2F, 0)).add(off).intoMemorySegment(ap, (dst + p) * 4L, LE);
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
