package dev.gatun.engine.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What the CPU can run, for kernels the Vector API cannot express (VNNI dot products): the flags line of
 * {@code /proc/cpuinfo} on Linux x86-64, nothing elsewhere (the portable kernels are chosen then).
 */
public final class CpuFeatures {
    private static final Set<String> FLAGS = read();

    private CpuFeatures() {}

    /** Whether this is Linux on x86-64 (the only platform the native library is built for). */
    public static boolean linuxX86_64() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    }

    /** Whether {@code /proc/cpuinfo} lists the flag (e.g. {@code avx512_vnni}, {@code avx_vnni}). */
    public static boolean has(String flag) {
        return FLAGS.contains(flag);
    }

    /** AVX-512 with VNNI: vpdpbusd on zmm registers (Intel Ice Lake and later servers, AMD Zen 4 and later). */
    public static boolean avx512Vnni() {
        return has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512_vnni");
    }

    /** AVX-VNNI: the VEX-encoded 256-bit vpdpbusd (Intel Alder Lake and later, AMD Zen 5). */
    public static boolean avxVnni() {
        return has("avx2") && has("fma") && has("avx_vnni");
    }

    /** AMX with its int8 dot products: tdpbusd on 16 x 64-byte tiles (Intel Sapphire Rapids and later). */
    public static boolean amxInt8() {
        return has("amx_tile") && has("amx_int8");
    }

    /** The flags of the first processor in {@code cpuinfo} text (exposed for tests). */
    static Set<String> parseFlags(List<String> cpuinfo) {
        for (String line : cpuinfo) {
            if (line.startsWith("flags") && line.indexOf(':') > 0) {
                return new HashSet<>(Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
            }
        }
        return Set.of();
    }

    private static Set<String> read() {
        if (!linuxX86_64()) {
            return Set.of();
        }
        try {
            return parseFlags(Files.readAllLines(Path.of("/proc/cpuinfo")));
        } catch (IOException | RuntimeException e) {
            return Set.of();
        }
    }
}
