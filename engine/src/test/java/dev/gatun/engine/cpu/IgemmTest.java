package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Every integer GEMM kernel this machine runs (portable always; the native AMX and VNNI ones when the library
 * loaded and the CPU has them) against the scalar int32 reference, bit for bit: random and extreme inputs (all 255
 * x all -128, and the largest |a - za| x |b - zb|), odd sizes, every signedness, per-tensor/per-row/per-column zero
 * points, one and two threads, threads calling at once, and the float epilogues.
 */
class IgemmTest {
    private static final int[] SIZES = {1, 2, 7, 17, 33, 64, 100};
    /** Sizes around the AMX tile edges (16 rows, 16 columns, 64 bytes of K) and the 64-column panels. */
    private static final int[] ODD = {1, 3, 17, 63, 65, 130, 384};
    private static boolean AMX_SKIP_SAID;

    static List<Igemm.Kernel> kernels() {
        List<Igemm.Kernel> l = new ArrayList<>();
        l.add(Igemm.Kernel.PORTABLE);
        if (IgemmNative.amxAvailable()) {
            l.add(Igemm.Kernel.AMX_INT8);
        } else if (!AMX_SKIP_SAID) {
            AMX_SKIP_SAID = true;
            System.out.println("IgemmTest: the AMX-INT8 kernel is not tested here: " + IgemmNative.amxUnavailableReason());
        }
        if (IgemmNative.available() && CpuFeatures.avx512Vnni()) {
            l.add(Igemm.Kernel.AVX512_VNNI);
        }
        if (IgemmNative.available() && CpuFeatures.avxVnni()) {
            l.add(Igemm.Kernel.AVX_VNNI);
        }
        return l;
    }

    /** A context running parallelFor on a real intra-op pool. */
    private static KernelContext threaded(Arena arena, IntraOpPool pool) {
        return PoolContext.of(arena, pool, pool.threads());
    }

    /** Fill mode: 0 random, 1 all max, 2 all min. */
    private static MemorySegment bytes(Arena arena, Random rnd, long n, int fill, boolean signed) {
        MemorySegment s = arena.allocate(Math.max(n, 1));
        for (long i = 0; i < n; i++) {
            int v = switch (fill) {
                case 1 -> signed ? 127 : 255;
                case 2 -> signed ? -128 : 0;
                default -> rnd.nextInt(256);
            };
            s.set(ValueLayout.JAVA_BYTE, i, (byte) v);
        }
        return s;
    }

    private record Problem(int m, int n, int k, MemorySegment a, boolean aSigned, int[] za, MemorySegment b, boolean bSigned,
                           int[] zb, long lda) {}

    private static int[] zeroPoints(Random rnd, int count, boolean signed, Integer fixed) {
        int[] z = new int[count];
        for (int i = 0; i < count; i++) {
            z[i] = fixed != null ? fixed : (signed ? rnd.nextInt(256) - 128 : rnd.nextInt(256));
        }
        return z;
    }

    private static int[] reference(Problem p) {
        int[] c = new int[p.m * p.n];
        IgemmReference.gemm(p.m, p.n, p.k, p.a, 0, p.lda, p.aSigned, p.za, p.b, 0, p.n, p.bSigned, p.zb, c, p.n);
        return c;
    }

    private static int[] run(Igemm.Kernel kernel, KernelContext ctx, Arena arena, Problem p) {
        Igemm.Weights w = Igemm.pack(kernel, arena, p.b, 0, p.n, 1, !p.bSigned, p.k, p.n, p.zb);
        MemorySegment rowZa = null;
        if (p.za.length > 1) {
            rowZa = arena.allocate(4L * p.m, 4);
            MemorySegment.copy(p.za, 0, rowZa, ValueLayout.JAVA_INT, 0, p.m);
        }
        Igemm.Lhs lhs = new Igemm.Lhs(p.a, 0, p.lda, p.aSigned, p.za[0], rowZa);
        long off = 3; // an odd element offset: unaligned output
        MemorySegment out = arena.allocate(4L * (off + (long) p.m * p.n), 4);
        Igemm.gemm(ctx, p.m, lhs, w, Igemm.Output.int32(out, off, p.n));
        int[] c = new int[p.m * p.n];
        MemorySegment.copy(out, ValueLayout.JAVA_INT, off * 4, c, 0, c.length);
        return c;
    }

    private static void assertSame(int[] expected, int[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    @Test
    void randomProblemsEqualTheReferenceBitForBit() {
        Random rnd = new Random(1);
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(2, "igemm-test")) {
            KernelContext one = new ArenaContext(arena);
            KernelContext two = threaded(arena, pool);
            for (int m : SIZES) {
                for (int n : SIZES) {
                    int k = SIZES[rnd.nextInt(SIZES.length)] + rnd.nextInt(300);
                    boolean aSigned = rnd.nextBoolean();
                    boolean bSigned = rnd.nextBoolean();
                    int lda = k + rnd.nextInt(3);
                    Problem p = new Problem(m, n, k, bytes(arena, rnd, (long) m * lda, 0, aSigned), aSigned,
                            zeroPoints(rnd, rnd.nextInt(4) == 0 ? m : 1, aSigned, null),
                            bytes(arena, rnd, (long) k * n, 0, bSigned), bSigned,
                            zeroPoints(rnd, rnd.nextInt(3) == 0 ? n : 1, bSigned, rnd.nextBoolean() ? 0 : null), lda);
                    int[] ref = reference(p);
                    for (Igemm.Kernel kernel : kernels()) {
                        String what = kernel + " m=" + m + " n=" + n + " k=" + k + " aSigned=" + aSigned + " bSigned=" + bSigned;
                        assertSame(ref, run(kernel, one, arena, p), what);
                        assertSame(ref, run(kernel, two, arena, p), what + " (2 threads)");
                    }
                }
            }
        }
    }

    @Test
    void manyRowsTakeThePackedPortablePath() {
        // Over IgemmPortable.DIRECT_ROWS rows in one task: B widened into float panels (the other portable path).
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            KernelContext one = new ArenaContext(arena);
            for (boolean perColumn : new boolean[] {false, true}) {
                int m = IgemmPortable.DIRECT_ROWS + 45;
                int n = 70;
                int k = 600;
                Problem p = new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 0, false), false, new int[] {rnd.nextInt(256)},
                        bytes(arena, rnd, (long) k * n, 0, true), true, zeroPoints(rnd, perColumn ? n : 1, true, perColumn ? null : 0), k);
                int[] ref = reference(p);
                for (Igemm.Kernel kernel : kernels()) {
                    assertSame(ref, run(kernel, one, arena, p), kernel + " " + m + " rows, per-column zb " + perColumn);
                }
            }
        }
    }

    @Test
    void extremeValuesDoNotSaturate() {
        // u8 255 x s8 -128: each product -32640, four of them -130560, far beyond int16 (the pair-add trap of
        // vpmaddubsw); and |a - za| = |b - zb| = 255 everywhere (products 65025, the portable kernel's float bound).
        Random rnd = new Random(2);
        int[][] shapes = {{1, 1, 1}, {7, 17, 33}, {13, 65, 257}, {6, 64, 1024}, {33, 100, 4099}, {1, 130, 5000}, {2, 3, 40000},
            {600, 65, 1030}};
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(2, "igemm-test")) {
            KernelContext two = threaded(arena, pool);
            for (int[] s : shapes) {
                int m = s[0];
                int n = s[1];
                int k = s[2];
                List<Problem> cases = List.of(
                        new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 1, false), false, new int[] {0},
                                bytes(arena, rnd, (long) k * n, 2, true), true, new int[] {0}, k),
                        new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 1, false), false, new int[] {0},
                                bytes(arena, rnd, (long) k * n, 2, false), false, new int[] {255}, k),
                        new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 2, false), false, new int[] {255},
                                bytes(arena, rnd, (long) k * n, 2, true), true, new int[] {127}, k),
                        new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 2, true), true, new int[] {127},
                                bytes(arena, rnd, (long) k * n, 1, true), true, new int[] {-128}, k));
                for (Problem p : cases) {
                    int[] ref = reference(p);
                    int av = p.aSigned ? p.a.get(ValueLayout.JAVA_BYTE, 0) : p.a.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
                    int bv = p.bSigned ? p.b.get(ValueLayout.JAVA_BYTE, 0) : p.b.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
                    long exact = (long) k * (av - p.za[0]) * (bv - p.zb[0]);
                    assertEquals((int) exact, ref[0], "the reference itself at k=" + k + " (exact " + exact + ", int32 wraps)");
                    for (Igemm.Kernel kernel : kernels()) {
                        assertSame(ref, run(kernel, two, arena, p), kernel + " extreme " + m + "x" + n + "x" + k);
                    }
                }
            }
        }
    }

    @Test
    void floatEpilogueMatchesItsDefinitionAndAllKernelsAgree() {
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(2, "igemm-test")) {
            KernelContext two = threaded(arena, pool);
            for (int trial = 0; trial < 12; trial++) {
                int m = SIZES[rnd.nextInt(SIZES.length)];
                int n = SIZES[rnd.nextInt(SIZES.length)] + rnd.nextInt(70);
                int k = 1 + rnd.nextInt(500);
                // Every third trial: per-row A zero points and scales (per-token dynamic quantization).
                boolean perRow = trial % 3 == 1;
                int[] za = perRow ? zeroPoints(rnd, m, false, null) : new int[] {rnd.nextInt(256)};
                Problem p = new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 0, false), false, za,
                        bytes(arena, rnd, (long) k * n, 0, true), true, zeroPoints(rnd, n, true, null), k);
                int[] ref = reference(p);
                MemorySegment rowZa = null;
                MemorySegment rowScale = null;
                if (perRow) {
                    rowZa = arena.allocate(4L * m, 4);
                    rowScale = arena.allocate(4L * m, 4);
                    for (int i = 0; i < m; i++) {
                        rowZa.setAtIndex(ValueLayout.JAVA_INT, i, za[i]);
                        rowScale.setAtIndex(Tensor.F32, i, 0.02f + rnd.nextFloat());
                    }
                }
                MemorySegment colScale = arena.allocate(4L * n, 4);
                MemorySegment bias = arena.allocate(4L * n, 4);
                for (int j = 0; j < n; j++) {
                    colScale.setAtIndex(Tensor.F32, j, rnd.nextFloat() * 0.01f);
                    bias.setAtIndex(Tensor.F32, j, rnd.nextFloat() - 0.5f);
                }
                float aScale = 0.02f + rnd.nextFloat();
                boolean relu = trial % 2 == 0;
                boolean withBias = trial % 3 != 0;
                for (Igemm.Kernel kernel : kernels()) {
                    Igemm.Weights w = Igemm.pack(kernel, arena, p.b, 0, n, 1, false, k, n, p.zb);
                    MemorySegment out = arena.allocate(4L * m * n, 4);
                    Igemm.gemm(two, m, new Igemm.Lhs(p.a, 0, k, false, p.za[0], rowZa), w, new Igemm.Output(
                            relu ? Igemm.Mode.FLOAT_RELU : Igemm.Mode.FLOAT, out, 0, n, aScale, colScale, withBias ? bias : null, null, rowScale));
                    for (int i = 0; i < m; i++) {
                        float as = perRow ? rowScale.getAtIndex(Tensor.F32, i) : aScale;
                        for (int j = 0; j < n; j++) {
                            float y = (float) ref[i * n + j] * (as * colScale.getAtIndex(Tensor.F32, j));
                            if (withBias) {
                                y = y + bias.getAtIndex(Tensor.F32, j);
                            }
                            if (relu) {
                                y = Math.max(y, 0f);
                            }
                            float got = out.getAtIndex(Tensor.F32, (long) i * n + j);
                            if (Float.floatToIntBits(y) != Float.floatToIntBits(got) && !(y == 0f && got == 0f)) {
                                fail(kernel + (perRow ? " per-row" : "") + " float epilogue " + m + "x" + n + "x" + k + " at (" + i + "," + j + "): " + got + " vs " + y);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void packedWeightsRecordTheirKernelAndTransposedSourcesWork() {
        Random rnd = new Random(4);
        try (Arena arena = Arena.ofShared()) {
            int m = 5;
            int n = 9;
            int k = 23;
            // B given as [n][k] (a conv weight): element (p, j) at j * k + p.
            MemorySegment bt = bytes(arena, rnd, (long) n * k, 0, true);
            MemorySegment b = arena.allocate((long) k * n);
            for (int p = 0; p < k; p++) {
                for (int j = 0; j < n; j++) {
                    b.set(ValueLayout.JAVA_BYTE, (long) p * n + j, bt.get(ValueLayout.JAVA_BYTE, (long) j * k + p));
                }
            }
            Problem pr = new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 0, false), false, new int[] {3}, b, true, new int[] {0}, k);
            int[] ref = reference(pr);
            for (Igemm.Kernel kernel : kernels()) {
                Igemm.Weights w = Igemm.pack(kernel, arena, bt, 0, 1, k, false, k, n, new int[] {0});
                assertEquals(kernel, w.kernel());
                MemorySegment out = arena.allocate(4L * m * n, 4);
                Igemm.gemm(new ArenaContext(arena), m, new Igemm.Lhs(pr.a, 0, k, false, 3, null), w, Igemm.Output.int32(out, 0, n));
                int[] c = new int[m * n];
                MemorySegment.copy(out, ValueLayout.JAVA_INT, 0, c, 0, c.length);
                assertSame(ref, c, kernel + " transposed B");
            }
        }
    }

    @Test
    void oddSizesAroundTheTileEdgesInEveryModeEqualTheReference() {
        Random rnd = new Random(6);
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(2, "igemm-test")) {
            KernelContext one = new ArenaContext(arena);
            KernelContext two = threaded(arena, pool);
            int trial = 0;
            for (int m : ODD) {
                for (int n : ODD) {
                    int k = ODD[rnd.nextInt(ODD.length)];
                    boolean aSigned = rnd.nextBoolean();
                    int lda = k + rnd.nextInt(3);
                    Problem p = new Problem(m, n, k, bytes(arena, rnd, (long) m * lda, 0, aSigned), aSigned,
                            zeroPoints(rnd, trial % 3 == 0 ? m : 1, aSigned, null), bytes(arena, rnd, (long) k * n, 0, true), true,
                            zeroPoints(rnd, trial % 2 == 0 ? n : 1, true, trial % 4 == 1 ? 0 : null), lda);
                    int[] ref = reference(p);
                    Igemm.Mode mode = Igemm.Mode.values()[trial % 3];
                    for (Igemm.Kernel kernel : kernels()) {
                        String what = kernel + " " + mode + " m=" + m + " n=" + n + " k=" + k;
                        KernelContext ctx = trial % 2 == 0 ? one : two;
                        if (mode == Igemm.Mode.INT32) {
                            assertSame(ref, run(kernel, ctx, arena, p), what);
                        } else {
                            assertFloatEpilogue(kernel, ctx, arena, rnd, p, ref, mode == Igemm.Mode.FLOAT_RELU, what);
                        }
                    }
                    trial++;
                }
            }
        }
    }

    @Test
    void threadsCallingAtOnceEachGetTheirOwnResult() throws Exception {
        // Native kernels keep per-call state (AMX: the tile configuration and registers of the calling thread).
        Random rnd = new Random(7);
        int callers = 4;
        try (Arena arena = Arena.ofShared()) {
            List<Problem> problems = new ArrayList<>();
            List<int[]> refs = new ArrayList<>();
            for (int t = 0; t < callers; t++) {
                int m = ODD[1 + rnd.nextInt(ODD.length - 1)];
                int n = ODD[1 + rnd.nextInt(ODD.length - 1)];
                int k = ODD[1 + rnd.nextInt(ODD.length - 1)] + t;
                Problem p = new Problem(m, n, k, bytes(arena, rnd, (long) m * k, 0, false), false, new int[] {rnd.nextInt(256)},
                        bytes(arena, rnd, (long) k * n, 0, true), true, zeroPoints(rnd, n, true, null), k);
                problems.add(p);
                refs.add(reference(p));
            }
            for (Igemm.Kernel kernel : kernels()) {
                List<Thread> threads = new ArrayList<>();
                List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
                for (int t = 0; t < callers; t++) {
                    Problem p = problems.get(t);
                    int[] ref = refs.get(t);
                    threads.add(Thread.ofPlatform().start(() -> {
                        try (Arena own = Arena.ofConfined()) {
                            KernelContext ctx = new ArenaContext(own);
                            for (int rep = 0; rep < 20; rep++) {
                                assertSame(ref, run(kernel, ctx, arena, p), kernel + " concurrent m=" + p.m + " n=" + p.n + " k=" + p.k);
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }));
                }
                for (Thread t : threads) {
                    t.join();
                }
                if (!failures.isEmpty()) {
                    throw new AssertionError(failures.get(0));
                }
            }
        }
    }

    /** Runs p through a float epilogue (random column scales, a bias, per-row scales with per-row zero points) and checks every element. */
    private static void assertFloatEpilogue(Igemm.Kernel kernel, KernelContext ctx, Arena arena, Random rnd, Problem p, int[] ref,
                                            boolean relu, String what) {
        int m = p.m;
        int n = p.n;
        boolean perRow = p.za.length > 1;
        MemorySegment rowZa = null;
        MemorySegment rowScale = null;
        if (perRow) {
            rowZa = arena.allocate(4L * m, 4);
            rowScale = arena.allocate(4L * m, 4);
            for (int i = 0; i < m; i++) {
                rowZa.setAtIndex(ValueLayout.JAVA_INT, i, p.za[i]);
                rowScale.setAtIndex(Tensor.F32, i, 0.02f + rnd.nextFloat());
            }
        }
        MemorySegment colScale = arena.allocate(4L * n, 4);
        MemorySegment bias = arena.allocate(4L * n, 4);
        for (int j = 0; j < n; j++) {
            colScale.setAtIndex(Tensor.F32, j, rnd.nextFloat() * 0.01f);
            bias.setAtIndex(Tensor.F32, j, rnd.nextFloat() - 0.5f);
        }
        float aScale = 0.02f + rnd.nextFloat();
        Igemm.Weights w = Igemm.pack(kernel, arena, p.b, 0, n, 1, !p.bSigned, p.k, n, p.zb);
        MemorySegment out = arena.allocate(4L * m * n, 4);
        Igemm.gemm(ctx, m, new Igemm.Lhs(p.a, 0, p.lda, p.aSigned, p.za[0], rowZa), w, new Igemm.Output(
                relu ? Igemm.Mode.FLOAT_RELU : Igemm.Mode.FLOAT, out, 0, n, aScale, colScale, bias, null, rowScale));
        for (int i = 0; i < m; i++) {
            float as = perRow ? rowScale.getAtIndex(Tensor.F32, i) : aScale;
            for (int j = 0; j < n; j++) {
                float y = (float) ref[i * n + j] * (as * colScale.getAtIndex(Tensor.F32, j)) + bias.getAtIndex(Tensor.F32, j);
                if (relu) {
                    y = Math.max(y, 0f);
                }
                float got = out.getAtIndex(Tensor.F32, (long) i * n + j);
                if (Float.floatToIntBits(y) != Float.floatToIntBits(got) && !(y == 0f && got == 0f)) {
                    fail(what + " at (" + i + "," + j + "): " + got + " vs " + y);
                }
            }
        }
    }

    @Test
    void kernelSettingIsParsed() {
        assertEquals(Igemm.Kernel.PORTABLE, Igemm.choose("portable"));
        Igemm.Kernel auto = Igemm.choose("auto");
        assertEquals(Igemm.bestNative() == null ? Igemm.Kernel.PORTABLE : Igemm.bestNative(), auto);
        if (Igemm.bestNative() == null) {
            EngineException e = assertThrows(EngineException.class, () -> Igemm.choose("native"));
            assertTrue(e.getMessage().contains(Igemm.PROPERTY), e.getMessage());
        } else {
            assertTrue(Igemm.choose("native").isNative());
        }
        assertThrows(EngineException.class, () -> Igemm.choose("fast"));
        for (String name : new String[] {"amx", "avx512-vnni", "avx-vnni"}) {
            Igemm.Kernel k = switch (name) {
                case "amx" -> Igemm.Kernel.AMX_INT8;
                case "avx512-vnni" -> Igemm.Kernel.AVX512_VNNI;
                default -> Igemm.Kernel.AVX_VNNI;
            };
            if (Igemm.unavailableReason(k) == null) {
                assertEquals(k, Igemm.choose(name));
            } else {
                EngineException e = assertThrows(EngineException.class, () -> Igemm.choose(name));
                assertTrue(e.getMessage().contains(Igemm.unavailableReason(k)), e.getMessage());
            }
        }
        if (IgemmNative.amxAvailable()) {
            assertEquals(Igemm.Kernel.AMX_INT8, Igemm.bestNative(), "AMX runs here, so it is the best native kernel");
        }
    }

    @Test
    void cpuFlagsAreReadFromCpuinfo() {
        var flags = CpuFeatures.parseFlags(List.of("processor\t: 0", "flags\t\t: fpu avx2 avx512f avx512_vnni", "flags\t: other"));
        assertTrue(flags.contains("avx512_vnni"));
        assertTrue(flags.contains("fpu"));
        assertFalse(flags.contains("other"));
        assertTrue(CpuFeatures.parseFlags(List.of("nothing")).isEmpty());
    }

    @Test
    void nativeLibraryLoadsOnThisBuildMachine() {
        // The build packs the library whenever a C compiler was present; then it must load here.
        if (CpuFeatures.linuxX86_64() && IgemmNative.class.getResource("/native/linux-x86_64/libgatun_cpu.so") != null) {
            assertTrue(IgemmNative.available(), "native library: " + IgemmNative.unavailableReason());
        }
    }
}
