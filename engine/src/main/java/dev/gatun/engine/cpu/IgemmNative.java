package dev.gatun.engine.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The VNNI integer GEMM of {@code native/cpu/igemm_vnni.c}, called through FFM. The Maven build compiles it into
 * {@code native/linux-x86_64/libgatun_cpu.so} inside the engine jar (when a C compiler was present); the first
 * use copies it to a temporary file and loads it with {@link SymbolLookup#libraryLookup}. {@link #available()}
 * says whether that worked, {@link #unavailableReason()} why not.
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
    private static final String REASON;

    static {
        MethodHandle h512 = null;
        MethodHandle h256 = null;
        String reason = null;
        try {
            if (!CpuFeatures.linuxX86_64()) {
                throw new IllegalStateException("the native CPU library is built for Linux x86-64 only");
            }
            SymbolLookup lib = SymbolLookup.libraryLookup(extract(), Arena.global());
            Linker linker = Linker.nativeLinker();
            ValueLayout.OfLong j = ValueLayout.JAVA_LONG;
            ValueLayout.OfInt i = ValueLayout.JAVA_INT;
            ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
            var p = ValueLayout.ADDRESS;
            FunctionDescriptor fd = FunctionDescriptor.ofVoid(j, j, j, p, j, i, p, p, p, i, p, f, p, p, p, i, p, j, p);
            h512 = linker.downcallHandle(lib.findOrThrow("gatun_igemm_avx512vnni"), fd);
            h256 = linker.downcallHandle(lib.findOrThrow("gatun_igemm_avxvnni"), fd);
            MethodHandle cols = linker.downcallHandle(lib.findOrThrow("gatun_igemm_panel_columns"), FunctionDescriptor.of(i));
            int nr = (int) cols.invokeExact();
            if (nr != PANEL) {
                throw new IllegalStateException("libgatun_cpu.so packs " + nr + " columns per panel, Java expects " + PANEL);
            }
        } catch (Throwable t) {
            h512 = null;
            h256 = null;
            reason = t.getMessage() == null ? t.toString() : t.getMessage();
        }
        AVX512 = h512;
        AVX256 = h256;
        REASON = reason;
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

    /** Bytes of scratch one call needs at depth k: the packed A block and its row sums. */
    static long workBytes(int k) {
        return (long) MC * (4L * ((k + 3) / 4)) + MC * 4L + 64;
    }

    /**
     * One block through the C kernel: see igemm_vnni.c for the math. Pointers are native segments (or
     * {@link MemorySegment#NULL}); {@code mode} 0 = int32 out, 1 = float, 2 = float with ReLU.
     */
    static void gemm(boolean avx512, long m, long n, long k, MemorySegment a, long lda, int flip, MemorySegment bp,
                     MemorySegment colSum, MemorySegment colZb, int za, MemorySegment rowZa, float aScale, MemorySegment rowScale,
                     MemorySegment colScale, MemorySegment bias, int mode, MemorySegment out, long ldo, MemorySegment work) {
        try {
            if (avx512) {
                AVX512.invokeExact(m, n, k, a, lda, flip, bp, colSum, colZb, za, rowZa, aScale, rowScale, colScale, bias, mode,
                        out, ldo, work);
            } else {
                AVX256.invokeExact(m, n, k, a, lda, flip, bp, colSum, colZb, za, rowZa, aScale, rowScale, colScale, bias, mode,
                        out, ldo, work);
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
