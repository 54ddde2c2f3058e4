package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link PhaseLayout}'s copies against their scalar twins: both {@code evens} (array and segment sources) on odd tails
 * and tight sources,
 * and {@link PhaseLayout#fillPlane} against the phase planes written element by element (strides 2 and 3, pads 0-3).
 */
class PhaseLayoutTest {
    @Test
    void evensMatchesScalarOnOddTailsAndTightSources() {
        Random rnd = new Random(3);
        for (int n = 0; n <= 70; n++) {
            for (int from = 0; from <= 3; from++) {
                for (int extra = 0; extra <= 2; extra++) {
                    // The source ends right after the last element read (extra 0) or a little later.
                    float[] src = random(rnd, from + Math.max(0, 2 * n - 1) + extra);
                    int d = rnd.nextInt(5);
                    float[] dst = marked(d + n + 20);
                    float[] want = marked(dst.length);
                    for (int i = 0; i < n; i++) {
                        want[d + i] = src[from + 2 * i];
                    }
                    PhaseLayout.evens(src, from, dst, d, n);
                    assertArrayEquals(want, dst, "n " + n + " from " + from + " extra " + extra);
                }
            }
        }
    }

    @Test
    void segmentEvensMatchesScalarOnOddTailsAndTightSegments() {
        Random rnd = new Random(5);
        float[] tail = new float[64];
        try (Arena arena = Arena.ofConfined()) {
            for (int n = 0; n <= 70; n++) {
                for (int from = 0; from <= 3; from++) {
                    for (int extra = 0; extra <= 40; extra += 20) {
                        // The segment ends right after the last element read (extra 0: the scalar tail) or later.
                        float[] src = random(rnd, from + Math.max(0, 2 * n - 1) + extra);
                        MemorySegment x = arena.allocate(4L * src.length);
                        MemorySegment.copy(src, 0, x, Tensor.F32, 0, src.length);
                        int d = rnd.nextInt(5);
                        float[] dst = marked(d + n + 20);
                        float[] want = marked(dst.length);
                        for (int i = 0; i < n; i++) {
                            want[d + i] = src[from + 2 * i];
                        }
                        PhaseLayout.evens(x, from, dst, d, n, tail);
                        assertArrayEquals(want, dst, "n " + n + " from " + from + " extra " + extra);
                    }
                }
            }
        }
    }

    @Test
    void fillPlaneMatchesScalarPhases() {
        Random rnd = new Random(9);
        // {ih, iw, kernel, stride, pad}: ResNet's stem and stride-2 3x3 layers, odd sizes, pads 0 to 3, stride 3.
        int[][] geos = {{224, 224, 7, 2, 3}, {56, 56, 3, 2, 1}, {14, 14, 3, 2, 1}, {7, 7, 3, 2, 1}, {9, 11, 3, 2, 0},
            {13, 6, 5, 2, 2}, {5, 5, 3, 2, 3}, {10, 17, 4, 2, 1}, {12, 12, 3, 3, 1}, {8, 8, 1, 2, 0}};
        try (Arena arena = Arena.ofConfined()) {
            for (int[] g : geos) {
                int ih = g[0], iw = g[1], k = g[2], s = g[3], p = g[4];
                int oh = (ih + 2 * p - k) / s + 1;
                int ow = (iw + 2 * p - k) / s + 1;
                PhaseLayout lay = new PhaseLayout(ih, iw, oh, ow, k, k, s, s, 1, 1, p, p);
                MemorySegment x = arena.allocate(4L * ih * iw);
                for (int i = 0; i < ih * iw; i++) {
                    x.setAtIndex(Tensor.F32, i, rnd.nextFloat());
                }
                float fill = -7f;
                float[] got = marked(lay.chanStride + 40);
                lay.fillPlane(x, 0, got, 5, fill);
                float[] want = marked(got.length);
                int planeSize = lay.hq * lay.wq;
                for (int slot = 0; slot < lay.slotA.length; slot++) {
                    for (int y = 0; y < lay.hq; y++) {
                        for (int c = 0; c < lay.wq; c++) {
                            int r = y * s + lay.slotA[slot] - p;
                            int q = c * s + lay.slotB[slot] - p;
                            boolean in = r >= 0 && r < ih && q >= 0 && q < iw;
                            want[5 + slot * planeSize + y * lay.wq + c] = in ? x.getAtIndex(Tensor.F32, (long) r * iw + q) : fill;
                        }
                    }
                }
                assertArrayEquals(want, got, java.util.Arrays.toString(g));
            }
        }
    }

    private static float[] random(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = rnd.nextFloat();
        }
        return f;
    }

    private static float[] marked(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = -i - 1;
        }
        return f;
    }
}
