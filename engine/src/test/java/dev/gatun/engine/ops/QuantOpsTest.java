package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.attrs;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear against scalar definitions written out here. */
class QuantOpsTest {
    private static final int[] SIZES = {1, 7, 17, 33, 100};
    private static final QuantOps FAMILY = new QuantOps();

    static Tensor[] runAll(Arena arena, String op, int opset, Attributes at, int outputs, Tensor... inputs) {
        DType[] types = new DType[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
        }
        Planned p = FAMILY.plan(NodeSpec.of(op, opset, at, outputs, types));
        Tensor[] out = p.kernel().run(new ArenaContext(arena), inputs);
        for (int i = 0; i < outputs; i++) {
            assertEquals(p.outputTypes()[i], out[i].dtype());
        }
        return out;
    }

    static Tensor run(Arena arena, String op, int opset, Attributes at, Tensor... inputs) {
        return runAll(arena, op, opset, at, 1, inputs)[0];
    }

    private static Tensor scalar(Arena arena, DType t, double v) {
        Tensor s = Tensor.allocate(arena, t, Shape.of());
        s.setDouble(0, v);
        return s;
    }

    private static Tensor vector(Arena arena, DType t, double... v) {
        Tensor s = Tensor.allocate(arena, t, Shape.of(v.length));
        for (int i = 0; i < v.length; i++) {
            s.setDouble(i, v[i]);
        }
        return s;
    }

    private static long clamp(double v, DType t) {
        return (long) Math.max(QuantOps.qmin(t), Math.min(QuantOps.qmax(t), v));
    }

    /** Floats around the quantization grid, with exact ties and values far out of range. */
    private static Tensor grid(Arena arena, Random rnd, float scale, long... dims) {
        Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            float v = switch (rnd.nextInt(4)) {
                case 0 -> (rnd.nextInt(600) - 300 + 0.5f) * scale;
                case 1 -> (rnd.nextFloat() - 0.5f) * 100000f * scale;
                default -> (rnd.nextFloat() * 400 - 200) * scale;
            };
            x.setDouble(i, v);
        }
        return x;
    }

    @Test
    void quantizePerTensorRoundsHalfToEvenAndSaturates() {
        Random rnd = new Random(1);
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : QuantOps.QUANT_TYPES) {
                for (int n : SIZES) {
                    float scale = 0.05f + rnd.nextFloat();
                    int zp = (int) (QuantOps.qmin(t) + rnd.nextInt(Math.min(256, QuantOps.qmax(t) - QuantOps.qmin(t))));
                    Tensor x = grid(arena, rnd, scale, n);
                    int opset = t.byteSize() == 2 ? 21 : 13;
                    Tensor y = run(arena, "QuantizeLinear", opset, Attributes.empty(), x, scalar(arena, DType.FLOAT, scale),
                            scalar(arena, t, zp));
                    assertEquals(t, y.dtype());
                    for (int i = 0; i < n; i++) {
                        long want = clamp(Math.rint(x.getFloat(i) / scale) + zp, t);
                        assertEquals(want, y.getAsLong(i), t + " n=" + n + " x=" + x.getFloat(i) + " scale=" + scale + " zp=" + zp);
                    }
                }
            }
        }
    }

    @Test
    void quantizeDefaultsToUint8AndOutputDtypeFromOpset21() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = vector(arena, DType.FLOAT, -3, -0.5, 0.5, 1.5, 2.5, 300);
            Tensor y = run(arena, "QuantizeLinear", 10, Attributes.empty(), x, scalar(arena, DType.FLOAT, 1));
            assertEquals(DType.UINT8, y.dtype());
            assertArrayEquals(new long[] {0, 0, 0, 2, 2, 255}, y.toLongArray());
            Tensor s8 = run(arena, "QuantizeLinear", 21, attrs("output_dtype", 3), x, scalar(arena, DType.FLOAT, 1));
            assertEquals(DType.INT8, s8.dtype());
            assertArrayEquals(new long[] {-3, 0, 0, 2, 2, 127}, s8.toLongArray());
            EngineException e = assertThrows(EngineException.class, () -> run(arena, "QuantizeLinear", 21, attrs("output_dtype", 3), x,
                    scalar(arena, DType.FLOAT, 1), scalar(arena, DType.UINT8, 0)));
            assertTrue(e.getMessage().contains("QuantizeLinear"), e.getMessage());
            EngineException f8 = assertThrows(EngineException.class, () -> run(arena, "QuantizeLinear", 21, attrs("output_dtype", 17), x,
                    scalar(arena, DType.FLOAT, 1)));
            assertTrue(f8.getMessage().contains("float8e4m3fn"), f8.getMessage());
        }
    }

    @Test
    void quantizeInt32InputDividesInDouble() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.ofInts(arena, new int[] {16777217, -7, 5}, 3);
            Tensor y = run(arena, "QuantizeLinear", 13, Attributes.empty(), x, scalar(arena, DType.FLOAT, 2), scalar(arena, DType.INT16, 0));
            assertArrayEquals(new long[] {32767, -4, 2}, y.toLongArray());
        }
    }

    @Test
    void perAxisAndBlockedQuantizeAndDequantize() {
        Random rnd = new Random(2);
        try (Arena arena = Arena.ofConfined()) {
            long[] dims = {2, 5, 7};
            for (long axis : new long[] {0, 1, 2, -1}) {
                int ax = (int) (axis < 0 ? axis + 3 : axis);
                for (long block : new long[] {0, 2, 3}) {
                    long groups = block == 0 ? dims[ax] : (dims[ax] + block - 1) / block;
                    long[] sDims = block == 0 ? new long[] {dims[ax]} : dims.clone();
                    if (block != 0) {
                        sDims[ax] = groups;
                    }
                    Tensor s = Tensor.allocate(arena, DType.FLOAT, Shape.of(sDims));
                    Tensor z = Tensor.allocate(arena, DType.INT8, Shape.of(sDims));
                    for (long i = 0; i < s.size(); i++) {
                        s.setDouble(i, 0.1 + rnd.nextFloat());
                        z.setLong(i, rnd.nextInt(20) - 10);
                    }
                    Tensor x = grid(arena, rnd, 0.5f, dims);
                    Attributes at = block == 0 ? attrs("axis", axis) : attrs("axis", axis, "block_size", block);
                    Tensor q = run(arena, "QuantizeLinear", 21, at, x, s, z);
                    Tensor d = run(arena, "DequantizeLinear", 21, at, q, s, z);
                    long[] idx = new long[3];
                    for (long i = 0; i < x.size(); i++) {
                        idx[0] = i / 35;
                        idx[1] = (i / 7) % 5;
                        idx[2] = i % 7;
                        long si;
                        if (block == 0) {
                            si = idx[ax];
                        } else {
                            long[] j = idx.clone();
                            j[ax] /= block;
                            si = (j[0] * sDims[1] + j[1]) * sDims[2] + j[2];
                        }
                        float sc = s.getFloat(si);
                        long zp = z.getAsLong(si);
                        long want = clamp(Math.rint(x.getFloat(i) / sc) + zp, DType.INT8);
                        assertEquals(want, q.getAsLong(i), "axis " + axis + " block " + block + " at " + i);
                        assertEquals((float) (want - zp) * sc, d.getFloat(i), "dequantize axis " + axis + " block " + block + " at " + i);
                    }
                }
            }
            Tensor x = grid(arena, rnd, 1f, 2, 3);
            EngineException e = assertThrows(EngineException.class, () -> run(arena, "QuantizeLinear", 13, attrs("axis", 1), x,
                    vector(arena, DType.FLOAT, 1, 2), vector(arena, DType.UINT8, 0, 0)));
            assertTrue(e.getMessage().contains("QuantizeLinear") && e.getMessage().contains("per-axis"), e.getMessage());
        }
    }

    @Test
    void dequantizeEveryIntegerTypeExactly() {
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.INT32}) {
                for (int n : SIZES) {
                    Tensor x = Tensor.allocate(arena, t, Shape.of(n));
                    for (int i = 0; i < n; i++) {
                        x.setLong(i, t == DType.INT32 ? rnd.nextInt() : (i % 3 == 0 ? (i % 2 == 0 ? QuantOps.qmax(t) : QuantOps.qmin(t))
                                : QuantOps.qmin(t) + rnd.nextInt(QuantOps.qmax(t) - QuantOps.qmin(t) + 1)));
                    }
                    float scale = rnd.nextFloat() * 0.1f;
                    long zp = t == DType.INT32 ? 0 : (t.isSigned() ? -3 : 130);
                    Tensor y = run(arena, "DequantizeLinear", 21, Attributes.empty(), x, scalar(arena, DType.FLOAT, scale), scalar(arena, t, zp));
                    assertEquals(DType.FLOAT, y.dtype());
                    for (int i = 0; i < n; i++) {
                        assertEquals((float) (x.getAsLong(i) - zp) * scale, y.getFloat(i), t + " n=" + n + " at " + i);
                    }
                }
            }
            Tensor x = vector(arena, DType.UINT8, 0, 10, 255);
            Tensor h = run(arena, "DequantizeLinear", 19, Attributes.empty(), x, scalar(arena, DType.FLOAT16, 0.5), scalar(arena, DType.UINT8, 10));
            assertEquals(DType.FLOAT16, h.dtype());
            assertArrayEquals(new float[] {-5f, 0f, 122.5f}, h.toFloatArray());
            Tensor old = run(arena, "DequantizeLinear", 10, Attributes.empty(), x, scalar(arena, DType.FLOAT, 2));
            assertArrayEquals(new float[] {0f, 20f, 510f}, old.toFloatArray());
        }
    }

    @Test
    void dynamicQuantizeLinearFollowsTheReferenceFormula() {
        Random rnd = new Random(4);
        try (Arena arena = Arena.ofConfined()) {
            for (int n : SIZES) {
                for (int kind = 0; kind < 4; kind++) {
                    Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(n));
                    for (int i = 0; i < n; i++) {
                        double v = switch (kind) {
                            case 0 -> rnd.nextGaussian() * 3;
                            case 1 -> -rnd.nextFloat() * 5;
                            case 2 -> rnd.nextFloat() * 5;
                            default -> 0;
                        };
                        x.setDouble(i, v);
                    }
                    Tensor[] out = runAll(arena, "DynamicQuantizeLinear", 11, Attributes.empty(), 3, x);
                    float lo = 0f;
                    float hi = 0f;
                    for (int i = 0; i < n; i++) {
                        lo = Math.min(lo, x.getFloat(i));
                        hi = Math.max(hi, x.getFloat(i));
                    }
                    float scale = (hi == lo ? 1f : hi - lo) / 255f;
                    long zp = (long) Math.rint(Math.max(0, Math.min(255, 0f - lo / scale)));
                    assertEquals(Shape.of(), out[1].shape());
                    assertEquals(scale, out[1].getFloat(0));
                    assertEquals(zp, out[2].getAsLong(0));
                    for (int i = 0; i < n; i++) {
                        assertEquals(clamp(Math.rint(x.getFloat(i) / scale) + zp, DType.UINT8), out[0].getAsLong(i), "n=" + n + " kind " + kind);
                    }
                }
            }
        }
    }

    @Test
    void refusesWhatItDoesNotImplement() {
        EngineException e = assertThrows(EngineException.class, () -> FAMILY.plan(NodeSpec.of("QuantizeLinear", 23,
                attrs("precision", 3), 1, DType.FLOAT, DType.FLOAT)));
        assertTrue(e.getMessage().contains("QuantizeLinear_0") && e.getMessage().contains("precision"), e.getMessage());
        EngineException d = assertThrows(EngineException.class, () -> FAMILY.plan(NodeSpec.of("DequantizeLinear", 13,
                Attributes.empty(), 1, DType.UINT8, DType.FLOAT16)));
        assertTrue(d.getMessage().contains("DequantizeLinear"), d.getMessage());
        assertThrows(EngineException.class, () -> FAMILY.plan(NodeSpec.of("DynamicQuantizeLinear", 11, Attributes.empty(), 3, DType.DOUBLE)));
    }
}
