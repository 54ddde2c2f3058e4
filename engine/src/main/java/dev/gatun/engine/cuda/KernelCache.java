package dev.gatun.engine.cuda;

import dev.gatun.bindings.cuda.CudaCheck;
import dev.gatun.bindings.cuda.CudaException;
import dev.gatun.bindings.cuda.Nvrtc;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The CUDA kernel sources ({@code native/cuda/*.cu}, packed into the engine jar) compiled by NVRTC for one device
 * architecture, and cached on disk: {@code ~/.cache/gatun/cuda/<hash>/<file>.cubin} (or {@code .ptx} where NVRTC
 * could only give PTX), the hash covering the sources, the architecture, the NVRTC version and the options, so a
 * changed kernel or driver recompiles. {@code GATUN_CUDA_CACHE} (or {@code -Dgatun.cuda.cache}) moves the cache.
 */
final class KernelCache {
    /** Every kernel file, one per op family. */
    static final List<String> FILES = List.of("elementwise", "unary", "reduce", "softmax", "layernorm", "gather", "transpose",
            "concat", "conv", "pool", "attention", "cast", "fused");
    static final String HEADER = "gatun_common.cuh";
    private static final String RESOURCE_DIR = "/dev/gatun/engine/cuda/kernels/";

    private KernelCache() {}

    /** A compiled image for {@code cuModuleLoadData}: CUBIN or NUL-terminated PTX. */
    record Image(String file, byte[] bytes, boolean cubin, boolean fromDisk) {}

    static String source(String name) {
        try (InputStream in = KernelCache.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                throw new CudaException(CudaException.Kind.NO_LIBRARY, "kernel source " + name + " is missing from the engine jar ("
                        + RESOURCE_DIR + ")");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CudaException(CudaException.Kind.NO_LIBRARY, "cannot read kernel source " + name + ": " + e.getMessage());
        }
    }

    static Path cacheRoot() {
        String s = System.getProperty("gatun.cuda.cache", System.getenv("GATUN_CUDA_CACHE"));
        if (s != null && !s.isBlank()) {
            return Path.of(s);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "gatun", "cuda");
    }

    static List<String> options(int major, int minor) {
        return List.of("--gpu-architecture=sm_" + major + minor, "--std=c++17", "-default-device", "-DGATUN_NVRTC=1");
    }

    /** The image of {@code file} for compute capability {@code major.minor}, from the disk cache or freshly compiled. */
    static Image load(String file, int major, int minor) {
        String header = source(HEADER);
        String src = source(file + ".cu");
        List<String> opts = options(major, minor);
        String version = nvrtcVersion();
        String hash = sha256(header + "\0" + src + "\0" + opts + "\0" + version);
        Path dir = cacheRoot().resolve(hash.substring(0, 24));
        Path cubin = dir.resolve(file + ".cubin");
        Path ptx = dir.resolve(file + ".ptx");
        try {
            if (Files.isRegularFile(cubin)) {
                return new Image(file, Files.readAllBytes(cubin), true, true);
            }
            if (Files.isRegularFile(ptx)) {
                return new Image(file, Files.readAllBytes(ptx), false, true);
            }
        } catch (IOException e) {
            // unreadable cache entry: compile again
        }
        Image img = compile(file, src, header, opts);
        try {
            Files.createDirectories(dir);
            Path target = img.cubin() ? cubin : ptx;
            Path tmp = Files.createTempFile(dir, file, ".tmp");
            Files.write(tmp, img.bytes());
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | UnsupportedOperationException e) {
            // a read-only home still runs, compiling once per process
        }
        return img;
    }

    static String nvrtcVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment maj = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment min = a.allocate(ValueLayout.JAVA_INT);
            CudaCheck.nvrtc(Nvrtc.nvrtcVersion(maj, min), "nvrtcVersion", null);
            return maj.get(ValueLayout.JAVA_INT, 0) + "." + min.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** NVRTC: create, compile (log in the error), take the CUBIN (PTX when no CUBIN), destroy. */
    static Image compile(String file, String src, String header, List<String> opts) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ValueLayout.ADDRESS);
            MemorySegment headers = a.allocate(ValueLayout.ADDRESS, 1);
            headers.setAtIndex(ValueLayout.ADDRESS, 0, a.allocateFrom(header));
            MemorySegment names = a.allocate(ValueLayout.ADDRESS, 1);
            names.setAtIndex(ValueLayout.ADDRESS, 0, a.allocateFrom(HEADER));
            CudaCheck.nvrtc(Nvrtc.nvrtcCreateProgram(prog, a.allocateFrom(src), a.allocateFrom(file + ".cu"), 1, headers, names),
                    "nvrtcCreateProgram(" + file + ".cu)", null);
            MemorySegment p = prog.get(ValueLayout.ADDRESS, 0);
            try {
                MemorySegment optv = a.allocate(ValueLayout.ADDRESS, opts.size());
                for (int i = 0; i < opts.size(); i++) {
                    optv.setAtIndex(ValueLayout.ADDRESS, i, a.allocateFrom(opts.get(i)));
                }
                int st = Nvrtc.nvrtcCompileProgram(p, opts.size(), optv);
                if (st != 0) {
                    CudaCheck.nvrtc(st, "nvrtcCompileProgram(" + file + ".cu, " + opts + ")", log(a, p));
                }
                MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
                if (Nvrtc.nvrtcGetCUBINSize(p, size) == 0 && size.get(ValueLayout.JAVA_LONG, 0) > 0) {
                    long n = size.get(ValueLayout.JAVA_LONG, 0);
                    MemorySegment buf = a.allocate(n);
                    CudaCheck.nvrtc(Nvrtc.nvrtcGetCUBIN(p, buf), "nvrtcGetCUBIN(" + file + ".cu)", null);
                    return new Image(file, buf.toArray(ValueLayout.JAVA_BYTE), true, false);
                }
                CudaCheck.nvrtc(Nvrtc.nvrtcGetPTXSize(p, size), "nvrtcGetPTXSize(" + file + ".cu)", null);
                long n = size.get(ValueLayout.JAVA_LONG, 0);
                MemorySegment buf = a.allocate(n);
                CudaCheck.nvrtc(Nvrtc.nvrtcGetPTX(p, buf), "nvrtcGetPTX(" + file + ".cu)", null);
                return new Image(file, buf.toArray(ValueLayout.JAVA_BYTE), false, false);
            } finally {
                Nvrtc.nvrtcDestroyProgram(prog);
            }
        }
    }

    private static String log(Arena a, MemorySegment p) {
        MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
        if (Nvrtc.nvrtcGetProgramLogSize(p, size) != 0) {
            return null;
        }
        long n = size.get(ValueLayout.JAVA_LONG, 0);
        MemorySegment buf = a.allocate(Math.max(n, 1));
        return Nvrtc.nvrtcGetProgramLog(p, buf) == 0 ? buf.getString(0) : null;
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
