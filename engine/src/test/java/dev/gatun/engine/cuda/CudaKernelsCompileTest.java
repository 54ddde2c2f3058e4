package dev.gatun.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kernel file compiles to PTX with nvcc ({@code -arch=compute_90 --ptx}) where nvcc is installed (skips with a
 * message otherwise), and every kernel the engine launches is an entry of its file's PTX. Runs without a GPU.
 */
class CudaKernelsCompileTest {
    @TempDir
    Path tmp;

    static Path nvcc() {
        List<Path> c = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null) {
            c.add(Path.of(home, "bin", "nvcc"));
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(":")) {
                c.add(Path.of(d, "nvcc"));
            }
        }
        c.add(Path.of("/usr/local/cuda/bin/nvcc"));
        c.add(Path.of("/usr/local/bin/nvcc"));
        return c.stream().filter(Files::isExecutable).findFirst().orElse(null);
    }

    static Path sources() {
        return Path.of(System.getProperty("gatun.root.dir", "..")).resolve("native/cuda");
    }

    @Test
    void everyKernelFileCompilesToPtxAndHasTheKernelsTheEngineLaunches() throws Exception {
        Path nvcc = nvcc();
        Assumptions.assumeTrue(nvcc != null, "nvcc not found (CUDA_HOME/bin, PATH, /usr/local/cuda/bin): the .cu files were not compiled");
        Path src = sources();
        for (String f : KernelCache.FILES) {
            Path cu = src.resolve(f + ".cu");
            assertTrue(Files.isRegularFile(cu), cu + " exists");
            Path ptx = tmp.resolve(f + ".ptx");
            Process p = new ProcessBuilder(nvcc.toString(), "-arch=compute_90", "--ptx", "-I", src.toString(), "-o", ptx.toString(),
                    cu.toString()).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), f + ".cu failed to compile:\n" + log);
            String text = Files.readString(ptx);
            for (String k : launched(f)) {
                assertTrue(text.contains(".entry " + k + "("), f + ".cu has no kernel " + k);
            }
        }
    }

    @Test
    void everyKernelFileStatesItsMathAtTheTop() throws IOException {
        Path src = sources();
        Assumptions.assumeTrue(Files.isDirectory(src), "no native/cuda at " + src);
        for (String f : KernelCache.FILES) {
            String s = Files.readString(src.resolve(f + ".cu"));
            assertTrue(s.startsWith("//"), f + ".cu starts with its comment");
            assertTrue(s.contains("Math") || s.contains("math") || s.contains("y["), f + ".cu states its math");
        }
    }

    /** Kernel names the engine's sources pass for {@code file}: ctx.launch*("file", "name" ...). */
    static List<String> launched(String file) throws IOException {
        Path dir = Path.of(System.getProperty("gatun.root.dir", "..")).resolve("engine/src/main/java/dev/gatun/engine/cuda");
        List<String> names = new ArrayList<>();
        Pattern p = Pattern.compile("launch(?:Rows)?\\(\"" + file + "\", \"([a-z0-9_]+)\"[,)]");
        try (var files = Files.list(dir)) {
            for (Path j : files.toList()) {
                Matcher m = p.matcher(Files.readString(j));
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        // kernels whose names the engine composes (op + "_f32")
        switch (file) {
            case "elementwise" -> {
                for (String op : List.of("add", "sub", "mul", "div", "pow", "max", "min")) {
                    names.add(op + "_f32");
                    names.add(op + "_same_f32");
                }
            }
            case "unary" -> names.addAll(List.of("relu_f32", "sigmoid_f32", "tanh_f32", "exp_f32", "log_f32", "sqrt_f32", "neg_f32",
                    "abs_f32", "erf_f32", "reciprocal_f32", "floor_f32", "ceil_f32", "gelu_f32", "gelu_tanh_f32", "clip_f32",
                    "leaky_relu_f32", "hard_sigmoid_f32", "hard_swish_f32", "softplus_f32"));
            case "reduce" -> names.addAll(List.of("reduce_sum_f32", "reduce_mean_f32", "reduce_max_f32", "reduce_min_f32"));
            case "cast" -> names.addAll(List.of("cast_f32_i64", "cast_i64_f32", "cast_i32_i64", "cast_i64_i32", "cast_u8_f32",
                    "cast_f32_u8"));
            case "softmax" -> names.addAll(List.of("softmax_f32", "log_softmax_f32"));
            case "gather" -> names.addAll(List.of("gather_f32", "gather_i64"));
            case "transpose" -> names.addAll(List.of("strided_copy_f32", "strided_copy_i64", "strided_copy_u8"));
            case "concat" -> names.addAll(List.of("concat_f32", "concat_i64"));
            default -> { }
        }
        assertTrue(!names.isEmpty(), "the engine launches kernels of " + file + ".cu");
        return names;
    }
}
