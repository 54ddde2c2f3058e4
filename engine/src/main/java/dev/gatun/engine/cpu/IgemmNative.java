package dev.gatun.engine.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The native integer GEMMs of {@code native/cpu/}, called through FFM: the VNNI kernels of {@code igemm_vnni.c}
 * and the AMX-INT8 one of {@code igemm_amx.c} (same signature, packed B and epilogues). The Maven build compiles it into
 * {@code native/linux-x86_64/libgatun_cpu.so} inside the engine jar (when a C compiler was present); the first
 * use copies it to a temporary file and loads it with {@link SymbolLookup#libraryLookup}. {@link #available()}
 * says whether that worked, {@link #unavailableReason()} why not. The AMX kernel is usable when the library has it,
 * {@code /proc/cpuinfo} lists {@code amx_tile} and {@code amx_int8} (and the AVX-512 VNNI its epilogue uses) and
 * Linux granted the process the tile data state ({@code gatun_amx_init}: arch_prctl ARCH_REQ_XCOMP_PERM, asked
 * once here); {@link #amxAvailable()} says whether it is, {@link #amxUnavailableReason()} why not.
 *
 * <p>One call computes a whole block {@code out[m x n]} from u8 rows of A and B packed by {@link Igemm#pack}
 * (panels of {@link #PANEL} columns, K padded to a multiple of 4), with the zero-point correction and the
 * epilogue (int32, or float scaled + bias [+ ReLU]) applied while the accumulators are in registers.
 */
public final class IgemmNative {
    /** Columns per packed B panel (the C kernel's NR). */
    public static final int PANEL = 64;
    /** Rows per packed A block in the C driver (its MC). */
    static final int MC = 96;

    private static final String RESOURCE = "/native/linux-x86_64/libgatun_cpu.so";
    private static final MethodHandle AVX512;
    private static final MethodHandle AVX256;
    private static final MethodHandle AMX;
    private static final MethodHandle AMX_WORK;
    private static final String REASON;
    private static final String AMX_REASON;

    static {
        MethodHandle h512 = null;
        MethodHandle h256 = null;
        MethodHandle hAmx = null;
        MethodHandle hAmxWork = null;
        String reason = null;
        String amxReason = null;
        try {
            if (!CpuFeatures.linuxX86_64()) {
                throw new IllegalStateException("the native CPU library is built for Linux x86-64 only");
            }
            SymbolLookup lib = SymbolLookup.libraryLookup(extract(), Arena.global());
            Linker linker = Linker.nativeLinker();
            ValueLayout.OfLong j = ValueLayout.JAVA_LONG;
            ValueLayout.OfInt i = ValueLayout.JAVA_INT;
            ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
            // Pointers travel as 64-bit integers (the same register or stack slot in the x86-64 System V ABI), so that
            // a call passes addresses computed from offsets instead of allocating a segment slice per pointer.
            var p = ValueLayout.JAVA_LONG;
            FunctionDescriptor fd = FunctionDescriptor.ofVoid(j, j, j, p, j, i, p, p, p, i, p, f, p, p, p, i, p, j, p);
            h512 = linker.downcallHandle(lib.findOrThrow("gatun_igemm_avx512vnni"), fd);
            h256 = linker.downcallHandle(lib.findOrThrow("gatun_igemm_avxvnni"), fd);
            MethodHandle cols = linker.downcallHandle(lib.findOrThrow("gatun_igemm_panel_columns"), FunctionDescriptor.of(i));
            int nr = (int) cols.invokeExact();
            if (nr != PANEL) {
                throw new IllegalStateException("libgatun_cpu.so packs " + nr + " columns per panel, Java expects " + PANEL);
            }
            var amx = lib.find("gatun_igemm_amx");
            if (amx.isEmpty()) {
                amxReason = "libgatun_cpu.so was built without the AMX kernel (its compiler lacked the AMX intrinsics)";
            } else if (!CpuFeatures.amxInt8() || !CpuFeatures.avx512Vnni()) {
                amxReason = "the CPU has no AMX-INT8 (amx_tile and amx_int8, with avx512_vnni, in /proc/cpuinfo)";
            } else {
                MethodHandle init = linker.downcallHandle(lib.findOrThrow("gatun_amx_init"), FunctionDescriptor.of(i));
                int status = (int) init.invokeExact();
                if (status != 0) {
                    amxReason = "Linux did not grant the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM returned " + status + ")";
                } else {
                    hAmx = linker.downcallHandle(amx.get(), fd);
                    hAmxWork = linker.downcallHandle(lib.findOrThrow("gatun_igemm_amx_work_bytes"), FunctionDescriptor.of(j, j));
                }
            }
        } catch (Throwable t) {
            h512 = null;
            h256 = null;
            hAmx = null;
            hAmxWork = null;
            reason = t.getMessage() == null ? t.toString() : t.getMessage();
            amxReason = reason;
        }
        AVX512 = h512;
        AVX256 = h256;
        AMX = hAmx;
        AMX_WORK = hAmxWork;
        REASON = reason;
        AMX_REASON = amxReason;
    }

    private IgemmNative() {}

    /** Whether the native library is loaded (it still needs the CPU features of the variant called). */
    public static boolean available() {
        return AVX512 != null;
    }

    /** Why the library could not be loaded, or null when it was. */
    public static String unavailableReason() {
        return REASON;
    }

    /** Whether the AMX-INT8 kernel runs here (library, CPU and kernel permission). */
    public static boolean amxAvailable() {
        return AMX != null;
    }

    /** Why the AMX-INT8 kernel does not run here, or null when it does. */
    public static String amxUnavailableReason() {
        return AMX_REASON;
    }

    /** Bytes of scratch one call of {@code kernel} needs at depth k: the packed A block and its row sums (AMX: and its tile buffers). */
    static long workBytes(Igemm.Kernel kernel, int k) {
        if (kernel == Igemm.Kernel.AMX_INT8) {
            try {
                return (long) AMX_WORK.invokeExact((long) k);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
        return (long) MC * (4L * ((k + 3) / 4)) + MC * 4L + 64;
    }

    /**
     * One block through the C kernel of {@code kernel}: see igemm_vnni.c for the math. Pointers are absolute addresses
     * of native memory that stays alive during the call (0 for NULL); {@code mode} 0 = int32 out, 1 = float, 2 = float
     * with ReLU.
     */
    static void gemm(Igemm.Kernel kernel, long m, long n, long k, long a, long lda, int flip, long bp, long colSum,
                     long colZb, int za, long rowZa, float aScale, long rowScale, long colScale, long bias, int mode,
                     long out, long ldo, long work) {
        try {
            // Each handle called as the constant it is (a handle picked into a local would not be inlined).
            switch (kernel) {
                case AMX_INT8 -> AMX.invokeExact(m, n, k, a, lda, flip, bp, colSum, colZb, za, rowZa, aScale, rowScale, colScale, bias,
                        mode, out, ldo, work);
                case AVX512_VNNI -> AVX512.invokeExact(m, n, k, a, lda, flip, bp, colSum, colZb, za, rowZa, aScale, rowScale, colScale,
                        bias, mode, out, ldo, work);
                case AVX_VNNI -> AVX256.invokeExact(m, n, k, a, lda, flip, bp, colSum, colZb, za, rowZa, aScale, rowScale, colScale,
                        bias, mode, out, ldo, work);
                case PORTABLE -> throw new IllegalArgumentException("the portable kernel has no native code");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static Path extract() throws IOException {
        try (InputStream in = IgemmNative.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("the engine was built without its native library " + RESOURCE
                        + " (no C compiler at build time)");
            }
            Path tmp = Files.createTempFile("libgatun_cpu", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        }
    }
}
