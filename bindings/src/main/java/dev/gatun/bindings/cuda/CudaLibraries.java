package dev.gatun.bindings.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds the CUDA shared libraries. Folders are searched in this order, the first file found wins:
 * <ol>
 *   <li>{@code GATUN_CUDA_LIB} (environment variable or system property {@code gatun.cuda.lib}): folders separated
 *       by {@code :}, or the library files themselves;</li>
 *   <li>{@code CUDA_HOME} / {@code CUDA_PATH}: the folder itself, {@code lib64}, {@code lib},
 *       {@code targets/x86_64-linux/lib};</li>
 *   <li>{@code LD_LIBRARY_PATH};</li>
 *   <li>the standard places: {@code /usr/local/cuda/lib64}, {@code /usr/local/cuda-*}/{lib64, targets/x86_64-linux/lib}
 *       (newest version first), {@code /usr/local/nvidia/lib64} and {@code /usr/lib/x86_64-linux-gnu} (the driver's
 *       {@code libcuda.so.1}), {@code /usr/lib64}, {@code /usr/lib/wsl/lib};</li>
 *   <li>the {@code nvidia-*} Python wheels' folders ({@code site-packages/nvidia/<name>/lib}) under the active
 *       virtual environment ({@code VIRTUAL_ENV}), {@code /opt/* /.venv}, {@code ~/.local} and the system Pythons;</li>
 * </ol>
 * and finally the dynamic linker's own search by file name. Per library, the versioned names of CUDA 13, then 12
 * are tried.
 */
public final class CudaLibraries {
    private CudaLibraries() {}

    /** The libraries Gatun uses, with the file names tried (newest first). */
    public enum Library {
        CUDART("the CUDA runtime (libcudart)", "libcudart.so.13", "libcudart.so.12", "libcudart.so"),
        CUDA_DRIVER("the CUDA driver (libcuda, installed with the NVIDIA driver)", "libcuda.so.1", "libcuda.so"),
        CUBLASLT("cuBLASLt (libcublasLt)", "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"),
        CUBLAS("cuBLAS (libcublas)", "libcublas.so.13", "libcublas.so.12", "libcublas.so"),
        NVRTC_BUILTINS("the NVRTC builtins (libnvrtc-builtins)", "libnvrtc-builtins.so.13.0", "libnvrtc-builtins.so.13.1",
                "libnvrtc-builtins.so.13.2", "libnvrtc-builtins.so.12.9", "libnvrtc-builtins.so.12.8", "libnvrtc-builtins.so"),
        NVRTC("NVRTC (libnvrtc)", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");

        private final String description;
        private final List<String> fileNames;

        Library(String description, String... fileNames) {
            this.description = description;
            this.fileNames = List.of(fileNames);
        }

        public String description() {
            return description;
        }

        public List<String> fileNames() {
            return fileNames;
        }

        /** Libraries loaded first from the same folder, so that this one's dependencies resolve to them. */
        List<Library> preload() {
            return switch (this) {
                case CUBLAS -> List.of(CUBLASLT);
                case NVRTC -> List.of(NVRTC_BUILTINS);
                default -> List.of();
            };
        }
    }

    /** The folders searched, in order (existing ones only). */
    public static List<Path> searchPath() {
        Set<Path> dirs = new LinkedHashSet<>();
        String explicit = setting("GATUN_CUDA_LIB", "gatun.cuda.lib");
        if (explicit != null) {
            for (String s : explicit.split(":")) {
                if (!s.isBlank()) {
                    Path p = Path.of(s.trim());
                    dirs.add(Files.isRegularFile(p) ? p.getParent() : p);
                }
            }
        }
        for (String home : new String[] {setting("CUDA_HOME", "gatun.cuda.home"), System.getenv("CUDA_PATH")}) {
            if (home != null && !home.isBlank()) {
                Path h = Path.of(home);
                dirs.add(h);
                dirs.add(h.resolve("lib64"));
                dirs.add(h.resolve("lib"));
                dirs.add(h.resolve("targets/x86_64-linux/lib"));
            }
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String s : ld.split(":")) {
                if (!s.isBlank()) {
                    dirs.add(Path.of(s));
                }
            }
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        for (Path v : glob(Path.of("/usr/local"), "cuda-*", true)) {
            dirs.add(v.resolve("lib64"));
            dirs.add(v.resolve("targets/x86_64-linux/lib"));
        }
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        dirs.add(Path.of("/usr/lib/wsl/lib"));
        for (Path sp : sitePackages()) {
            for (Path pkg : glob(sp.resolve("nvidia"), "*", false)) {
                dirs.add(pkg.resolve("lib"));
                dirs.add(pkg.resolve("lib64"));
            }
        }
        List<Path> out = new ArrayList<>();
        for (Path d : dirs) {
            if (Files.isDirectory(d)) {
                out.add(d);
            }
        }
        return out;
    }

    /**
     * The file to load for {@code lib}.
     *
     * @throws CudaException NO_LIBRARY naming the library and where it was looked for
     */
    public static Path locate(Library lib) {
        List<Path> dirs = searchPath();
        for (Path d : dirs) {
            for (String name : lib.fileNames()) {
                Path p = d.resolve(name);
                if (Files.isRegularFile(p)) {
                    return p;
                }
            }
        }
        for (String name : lib.fileNames()) {
            // Whatever the dynamic linker finds by name (ld.so.cache): probe once, load by the same name.
            try {
                SymbolLookup.libraryLookup(name, Arena.global());
                return Path.of(name);
            } catch (IllegalArgumentException notThere) {
                // try the next name
            }
        }
        throw new CudaException(CudaException.Kind.NO_LIBRARY, lib.description() + " was not found: looked for "
                + lib.fileNames() + " in GATUN_CUDA_LIB, CUDA_HOME, LD_LIBRARY_PATH, the standard CUDA folders and nvidia-* Python wheels ("
                + dirs.size() + " folders: " + dirs + ") and the dynamic linker's cache; set GATUN_CUDA_LIB to the folder holding it");
    }

    /** Loads {@code lib} from {@code dir} when it is there (so a library loaded next finds it); ignores it otherwise. */
    static void preload(Library lib, Path dir) {
        if (dir == null) {
            return;
        }
        for (String name : lib.fileNames()) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                try {
                    SymbolLookup.libraryLookup(p, Arena.global());
                } catch (IllegalArgumentException e) {
                    // the main library's own load reports what is wrong
                }
                return;
            }
        }
    }

    /** One line per library: the file found, or why none was. */
    public static String describe() {
        StringBuilder b = new StringBuilder();
        for (Library l : Library.values()) {
            String where;
            try {
                where = locate(l).toString();
            } catch (CudaException e) {
                where = "not found";
            }
            b.append(String.format("%-16s %s%n", l.name().toLowerCase(java.util.Locale.ROOT), where));
        }
        return b.toString();
    }

    private static String setting(String env, String property) {
        String p = System.getProperty(property);
        return p != null ? p : System.getenv(env);
    }

    private static List<Path> sitePackages() {
        List<Path> roots = new ArrayList<>();
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null) {
            roots.add(Path.of(venv));
        }
        for (Path opt : glob(Path.of("/opt"), "*", false)) {
            roots.add(opt.resolve(".venv"));
            roots.add(opt.resolve("venv"));
        }
        String home = System.getProperty("user.home");
        if (home != null) {
            roots.add(Path.of(home, ".local"));
        }
        roots.add(Path.of("/usr/local"));
        roots.add(Path.of("/usr"));
        List<Path> out = new ArrayList<>();
        for (Path r : roots) {
            for (Path py : glob(r.resolve("lib"), "python3*", true)) {
                out.add(py.resolve("site-packages"));
                out.add(py.resolve("dist-packages"));
            }
        }
        return out;
    }

    private static List<Path> glob(Path dir, String pattern, boolean newestFirst) {
        List<Path> l = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return l;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, pattern)) {
            for (Path p : ds) {
                if (Files.isDirectory(p)) {
                    l.add(p);
                }
            }
        } catch (IOException | SecurityException e) {
            return l;
        }
        l.sort(null);
        if (newestFirst) {
            java.util.Collections.reverse(l);
        }
        return l;
    }
}
