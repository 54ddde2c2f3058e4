package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class PadOpsTest {
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(3);

    @AfterEach
    void close() {
        arena.close();
    }

    /** numpy.pad's index mapping, one step at a time (reflect bounces, wrap cycles), or -1 for the constant. */
    private static long ref(long i, long d, String mode) {
        if (i >= 0 && i < d) {
            return i;
        }
        switch (mode) {
            case "constant":
                return -1;
            case "edge":
                return i < 0 ? 0 : d - 1;
            case "wrap":
                return ((i % d) + d) % d;
            default:
                if (d == 1) {
                    return 0;
                }
                while (i < 0 || i >= d) {
                    i = i < 0 ? -i : 2 * (d - 1) - i;
                }
                return i;
        }
    }

    private static void check(Tensor in, Tensor out, long[] begin, String mode, double value) {
        long[] id = in.shape().dims();
        long[] od = out.shape().dims();
        for (long f = 0; f < out.size(); f++) {
            long[] idx = unflat(f, od);
            long[] s = new long[idx.length];
            boolean constant = false;
            for (int k = 0; k < idx.length; k++) {
                s[k] = ref(idx[k] - begin[k], id[k], mode);
                constant |= s[k] < 0;
            }
            if (constant) {
                assertEquals(value, out.getDouble(f), "at flat " + f);
            } else {
                assertEquals(in.getDouble(flat(s, id)), out.getDouble(f), "at flat " + f);
            }
        }
    }

    @Test
    void padEveryModeRandom() {
        String[] modes = {"constant", "reflect", "edge", "wrap"};
        DType[] types = {DType.FLOAT, DType.INT32, DType.INT8, DType.FLOAT16, DType.DOUBLE};
        for (int trial = 0; trial < 40; trial++) {
            String mode = modes[trial % 4];
            DType t = types[trial % types.length];
            int rank = 1 + rnd.nextInt(4);
            long[] dims = new long[rank];
            long[] pads = new long[2 * rank];
            for (int k = 0; k < rank; k++) {
                dims[k] = 1 + rnd.nextInt(7);
                long max = mode.equals("constant") ? 4 : dims[k] + 2;
                pads[k] = rnd.nextInt((int) max) - (rnd.nextInt(4) == 0 ? Math.min(1, dims[k] - 1) : 0);
                pads[k + rank] = rnd.nextInt((int) max);
            }
            Tensor in = random(arena, rnd, t, dims);
            Tensor value = Tensor.allocate(arena, t, Shape.scalar());
            value.setDouble(0, 5);
            Tensor out = run1(arena, "Pad", 19, attrs("mode", mode), in, longs(arena, pads), mode.equals("constant") ? value : null);
            long[] begin = java.util.Arrays.copyOf(pads, rank);
            for (int k = 0; k < rank; k++) {
                assertEquals(dims[k] + pads[k] + pads[k + rank], out.shape().dim(k));
            }
            check(in, out, begin, mode, 5);
        }
    }

    @Test
    void padOldOpsetAttributesAndAxes() {
        Tensor in = random(arena, rnd, DType.FLOAT, 2, 3, 4, 4);
        long[] pads = {0, 0, 1, 2, 0, 0, 3, 0};
        Tensor out = run1(arena, "Pad", 2, attrs("pads", pads, "value", 1.5f), in);
        assertEquals(Shape.of(2, 3, 8, 6), out.shape());
        check(in, out, new long[] {0, 0, 1, 2}, "constant", 1.5);
        Tensor refl = run1(arena, "Pad", 7, attrs("pads", pads, "mode", "reflect"), in);
        check(in, refl, new long[] {0, 0, 1, 2}, "reflect", 0);
        // opset 11: no constant_value input means zero
        Tensor zero = run1(arena, "Pad", 11, Attributes.empty(), in, longs(arena, pads));
        check(in, zero, new long[] {0, 0, 1, 2}, "constant", 0);
        // opset 18: axes input, negative axes allowed
        Tensor ax = run1(arena, "Pad", 18, attrs("mode", "edge"), in, longs(arena, 1, 2, 3, 0), null, longs(arena, -2, 3));
        assertEquals(Shape.of(2, 3, 8, 6), ax.shape());
        check(in, ax, new long[] {0, 0, 1, 2}, "edge", 0);
        // negative pads crop
        Tensor crop = run1(arena, "Pad", 13, Attributes.empty(), in, longs(arena, 0, 0, -1, 0, 0, -1, 0, -2));
        assertEquals(Shape.of(2, 2, 3, 2), crop.shape());
        check(in, crop, new long[] {0, 0, -1, 0}, "constant", 0);
    }

    @Test
    void padErrors() {
        Tensor in = random(arena, rnd, DType.FLOAT, 2, 3);
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "Pad", 13, Attributes.empty(), in, longs(arena, 1, 1)));
        assertTrue(e.getMessage().contains("Pad_0") && e.getMessage().contains("[2,3]"), e.getMessage());
        assertEquals(EngineException.Kind.UNSUPPORTED,
                assertThrows(EngineException.class, () -> run1(arena, "Pad", 18, attrs("mode", "wrap"), in, longs(arena, 0, 0, 0, 0))).kind());
        assertThrows(EngineException.class, () -> run1(arena, "Pad", 13, attrs("mode", "mirror"), in, longs(arena, 0, 0, 0, 0)));
        assertThrows(EngineException.class, () -> run1(arena, "Pad", 13, Attributes.empty(), in, longs(arena, 0, -4, 0, 0)));
        assertThrows(EngineException.class, () -> run1(arena, "Pad", 7, Attributes.empty(), in));
    }

    @Test
    void centerCropPad() {
        Tensor in = random(arena, rnd, DType.FLOAT, 20, 7, 3);
        Tensor out = run1(arena, "CenterCropPad", 18, Attributes.empty(), in, longs(arena, 10, 10, 3));
        assertEquals(Shape.of(10, 10, 3), out.shape());
        // crop 20 -> 10: start 5; pad 7 -> 10: 1 before, 2 after
        check(in, out, new long[] {-5, 1, 0}, "constant", 0);
        Tensor axes = run1(arena, "CenterCropPad", 18, attrs("axes", new long[] {-3, 1}), in, longs(arena, 9, 4));
        assertEquals(Shape.of(9, 4, 3), axes.shape());
        check(in, axes, new long[] {-5, -1, 0}, "constant", 0);
        assertThrows(EngineException.class, () -> run1(arena, "CenterCropPad", 18, Attributes.empty(), in, longs(arena, 1, 2)));
    }
}
