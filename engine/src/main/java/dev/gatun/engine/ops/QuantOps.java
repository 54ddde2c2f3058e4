package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Linear (de)quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
 *
 * <ul>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html">QuantizeLinear</a> (10, 13, 19, 21, 23,
 *       24, 25): {@code y = saturate(rint(x / y_scale) + y_zero_point)}, rint rounding half to even, saturate to the
 *       output type's range. Output type: y_zero_point's type, else {@code output_dtype} (21+), else uint8.
 *       x float / float16 / bfloat16 / int32; the division runs in the {@code precision} attribute's type (23+),
 *       else in numpy's promotion of x and y_scale (float32 for float x and scale, float64 for int32 x).</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html">DequantizeLinear</a> (10, 13, 19, 21,
 *       23, 24, 25): {@code y = (x - x_zero_point) * x_scale}, the difference exact, one rounding for the product
 *       in float32; output type: x_scale's type (float until 19), or {@code output_dtype} (23+).
 *       x int8 / uint8 / int16 / uint16 / int32.</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__DynamicQuantizeLinear.html">DynamicQuantizeLinear</a> (11):
 *       float x to uint8 with {@code lo = min(0, min x)}, {@code hi = max(0, max x)},
 *       {@code scale = (hi == lo ? 1 : hi - lo) / 255} (as ONNX Runtime and the ONNX reference),
 *       {@code zp = rint(clamp(-lo / scale, 0, 255))}, {@code y = saturate(rint(x / scale) + zp)}; outputs y, the
 *       scale (float scalar) and zp (uint8 scalar).</li>
 * </ul>
 *
 * <p>Granularity (Quantize/Dequantize) from the scale's shape: one element = per tensor; 1-D (opset 13+) = per
 * axis {@code axis} (default 1, negative counts from the back); same rank as x with {@code block_size > 0}
 * (opset 21+) = blocked along {@code axis}, scale dim {@code ceil(x dim / block_size)}. The zero point has the
 * scale's shape. Layout: x seen as [outer, D (axis), inner], one scale per (outer, d) run of inner elements.
 *
 * <p>float32 &lt;-&gt; 8-bit runs are vectorized: {@code x / scale} clamped to the range minus zp, rounded half to
 * even by adding and subtracting 1.5 * 2^23 (exact for |v| &lt;= 2^22), then narrowed; dequantization widens
 * 16 bytes to 16 floats. Other types take scalar loops through double. float8, int4/uint4, int2/uint2 and
 * float4 types are refused (Gatun has no such element types).
 */
public final class QuantOps implements OpFamily {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final VectorSpecies<Byte> SB = VectorSpecies.of(byte.class, VectorShape.forBitSize(VL * 8));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float ROUND_MAGIC = 12582912f;

    static final DType[] QUANT_TYPES = {DType.UINT8, DType.INT8, DType.UINT16, DType.INT16};
    private static final DType[] FLOATS = {DType.FLOAT, DType.FLOAT16, DType.BFLOAT16};
    private static final DType[] Q_INPUTS = {DType.FLOAT, DType.FLOAT16, DType.BFLOAT16, DType.INT32};
    private static final DType[] DQ_INPUTS = {DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.INT32};

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("QuantizeLinear", 10, Q_INPUTS),
                OpInfo.of("DequantizeLinear", 10, DQ_INPUTS),
                OpInfo.of("DynamicQuantizeLinear", 11, DType.FLOAT));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "QuantizeLinear" -> planQuantize(node);
            case "DequantizeLinear" -> planDequantize(node);
            case "DynamicQuantizeLinear" -> planDynamic(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    /** Smallest and largest value of an integer quantized type. */
    static int qmin(DType t) {
        return switch (t) {
            case INT8 -> -128;
            case INT16 -> -32768;
            default -> 0;
        };
    }

    static int qmax(DType t) {
        return switch (t) {
            case UINT8 -> 255;
            case INT8 -> 127;
            case UINT16 -> 65535;
            case INT16 -> 32767;
            default -> throw new IllegalArgumentException("not a quantized type: " + t);
        };
    }

    // ---------------------------------------------------------------- QuantizeLinear

    private static Planned planQuantize(NodeSpec node) {
        DType xt = node.requireType(0, Q_INPUTS);
        DType st = node.requireType(1, FLOATS);
        DType out = DType.UINT8;
        long od = node.opset() >= 21 ? node.attrs().getInt("output_dtype", 0) : 0;
        if (od != 0) {
            out = quantType(node, (int) od, "output_dtype");
        }
        if (node.hasInput(2)) {
            DType zt = node.requireType(2, QUANT_TYPES);
            if (od != 0 && zt != out) {
                throw node.unsupported("output_dtype " + out + " with a zero point of type " + zt + " (they must agree)");
            }
            out = zt;
        }
        Precision prec = precision(node, xt, st);
        Granularity g = Granularity.of(node);
        DType outType = out;
        Memo<Runs> runs = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Tensor s = in[1];
            Tensor z = in.length > 2 ? in[2] : null;
            Tensor y = ctx.allocate(outType, x.shape());
            Runs r = g.runs(node, x.shape(), s, z, runs);
            for (long run = 0; run < r.count(); run++) {
                long xi = run * r.inner;
                if (r.blocked) {
                    for (long e = 0; e < r.inner; e++) {
                        long si = r.scaleIndex(run, e);
                        quantize(x, xi + e, y, xi + e, 1, (float) s.getDouble(si), z == null ? 0 : (int) z.getAsLong(si), prec);
                    }
                } else {
                    long si = r.scaleIndex(run, 0);
                    quantize(x, xi, y, xi, r.inner, (float) s.getDouble(si), z == null ? 0 : (int) z.getAsLong(si), prec);
                }
            }
            return Memo.outputs(outputs, y);
        }, out);
    }

    /** The division's precision for QuantizeLinear. */
    private enum Precision { FLOAT, HALF, BF16, DOUBLE }

    private static Precision precision(NodeSpec node, DType xt, DType st) {
        long p = node.opset() >= 23 ? node.attrs().getInt("precision", 0) : 0;
        if (p != 0) {
            DType t = DType.fromOnnxOrNull((int) p);
            if (t == null || !(t.isFloating())) {
                throw node.unsupported("precision " + DType.onnxTypeName((int) p));
            }
            return of(t);
        }
        if (xt == DType.INT32) {
            return Precision.DOUBLE;
        }
        if (xt == st) {
            return of(xt);
        }
        return Precision.FLOAT;
    }

    private static Precision of(DType t) {
        return switch (t) {
            case FLOAT16 -> Precision.HALF;
            case BFLOAT16 -> Precision.BF16;
            case DOUBLE -> Precision.DOUBLE;
            default -> Precision.FLOAT;
        };
    }

    /** The quantized integer type with ONNX id {@code id}, or a refusal naming it. */
    static DType quantType(NodeSpec node, int id, String what) {
        DType t = DType.fromOnnxOrNull(id);
        for (DType q : QUANT_TYPES) {
            if (q == t) {
                return t;
            }
        }
        throw node.unsupported(what + " " + DType.onnxTypeName(id) + " (supported: uint8, int8, uint16, int16)");
    }

    /** y[yOff + e] = saturate(rint(x[xOff + e] / s) + zp) for e < count. */
    private static void quantize(Tensor x, long xOff, Tensor y, long yOff, long count, float s, int zp, Precision prec) {
        DType out = y.dtype();
        int lo = qmin(out);
        int hi = qmax(out);
        long e = 0;
        if (x.dtype() == DType.FLOAT && prec == Precision.FLOAT && out.byteSize() == 1 && count >= VL) {
            e = quantizeFloatBytes(x.data(), xOff, y.data(), yOff, count, s, zp, lo, hi);
        }
        for (; e < count; e++) {
            double q = switch (prec) {
                case FLOAT -> (float) x.getDouble(xOff + e) / s;
                case HALF -> Float.float16ToFloat(Float.floatToFloat16((float) x.getDouble(xOff + e) / s));
                case BF16 -> DType.bf16ToFloat(DType.floatToBf16((float) x.getDouble(xOff + e) / s));
                case DOUBLE -> x.getDouble(xOff + e) / (double) s;
            };
            double r = Math.rint(q) + zp;
            long v = Double.isNaN(r) ? zp : (long) Math.max(lo, Math.min(hi, r));
            y.setLong(yOff + e, v);
        }
    }

    /** The vector part of {@link #quantize} for float32 to 8-bit; returns how many elements it wrote. */
    static long quantizeFloatBytes(MemorySegment x, long xOff, MemorySegment y, long yOff, long count, float s, int zp, int lo, int hi) {
        FloatVector vs = FloatVector.broadcast(S, s);
        FloatVector vlo = FloatVector.broadcast(S, (float) (lo - zp));
        FloatVector vhi = FloatVector.broadcast(S, (float) (hi - zp));
        FloatVector magic = FloatVector.broadcast(S, ROUND_MAGIC);
        FloatVector vzp = FloatVector.broadcast(S, (float) zp);
        long e = 0;
        for (; e <= count - VL; e += VL) {
            FloatVector q = FloatVector.fromMemorySegment(S, x, (xOff + e) * 4, LE).div(vs);
            // Clamped by compare-and-blend (Java's min/max, with their NaN and signed-zero rules, cost more).
            q = q.blend(vlo, q.lt(vlo));
            q = q.blend(vhi, q.compare(VectorOperators.GT, vhi));
            q = q.add(magic).sub(magic).add(vzp);
            ((ByteVector) q.convertShape(VectorOperators.F2B, SB, 0)).intoMemorySegment(y, yOff + e, LE);
        }
        return e;
    }

    // ---------------------------------------------------------------- DequantizeLinear

    private static Planned planDequantize(NodeSpec node) {
        DType xt = node.requireType(0, DQ_INPUTS);
        DType st = node.requireType(1, node.opset() >= 19 ? FLOATS : new DType[] {DType.FLOAT});
        if (node.hasInput(2)) {
            node.requireType(2, xt);
        }
        DType out = st;
        long od = node.opset() >= 23 ? node.attrs().getInt("output_dtype", 0) : 0;
        if (od != 0) {
            DType t = DType.fromOnnxOrNull((int) od);
            if (t != DType.FLOAT && t != DType.FLOAT16 && t != DType.BFLOAT16) {
                throw node.unsupported("output_dtype " + DType.onnxTypeName((int) od));
            }
            out = t;
        }
        Granularity g = Granularity.of(node);
        DType outType = out;
        Memo<Runs> runs = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Tensor s = in[1];
            Tensor z = in.length > 2 ? in[2] : null;
            Tensor y = ctx.allocate(outType, x.shape());
            Runs r = g.runs(node, x.shape(), s, z, runs);
            for (long run = 0; run < r.count(); run++) {
                long xi = run * r.inner;
                if (r.blocked) {
                    for (long e = 0; e < r.inner; e++) {
                        long si = r.scaleIndex(run, e);
                        dequantize(x, xi + e, y, xi + e, 1, (float) s.getDouble(si), z == null ? 0 : z.getAsLong(si));
                    }
                } else {
                    long si = r.scaleIndex(run, 0);
                    dequantize(x, xi, y, xi, r.inner, (float) s.getDouble(si), z == null ? 0 : z.getAsLong(si));
                }
            }
            return Memo.outputs(outputs, y);
        }, out);
    }

    /** y[yOff + e] = (x[xOff + e] - zp) * s for e < count. */
    private static void dequantize(Tensor x, long xOff, Tensor y, long yOff, long count, float s, long zp) {
        long e = 0;
        MemorySegment ys = y.data();
        if (x.dtype().byteSize() == 1 && y.dtype() == DType.FLOAT) {
            boolean unsigned = x.dtype() == DType.UINT8;
            // u8 bytes are read as s8 after flipping the top bit (value - 128), so the exact offset is 128 - zp.
            FloatVector off = FloatVector.broadcast(S, (float) ((unsigned ? 128 : 0) - zp));
            FloatVector vs = FloatVector.broadcast(S, s);
            MemorySegment xs = x.data();
            for (; e <= count - VL; e += VL) {
                ByteVector b = ByteVector.fromMemorySegment(SB, xs, xOff + e, LE);
                if (unsigned) {
                    b = b.lanewise(VectorOperators.XOR, (byte) 0x80);
                }
                ((FloatVector) b.convertShape(VectorOperators.B2F, S, 0)).add(off).mul(vs).intoMemorySegment(ys, (yOff + e) * 4, LE);
            }
        }
        for (; e < count; e++) {
            float v = (float) (x.getAsLong(xOff + e) - zp) * s;
            switch (y.dtype()) {
                case FLOAT -> ys.setAtIndex(Tensor.F32, yOff + e, v);
                case FLOAT16 -> ys.setAtIndex(Tensor.I16, yOff + e, Float.floatToFloat16(v));
                default -> ys.setAtIndex(Tensor.I16, yOff + e, DType.floatToBf16(v));
            }
        }
    }

    // ---------------------------------------------------------------- DynamicQuantizeLinear

    private static Planned planDynamic(NodeSpec node) {
        node.requireType(0, DType.FLOAT);
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            long range = minMax(x.data(), 0, x.size());
            float lo = Math.min(0f, lo(range));
            float hi = Math.max(0f, hi(range));
            float scale = (hi == lo ? 1f : hi - lo) / 255f;
            int zp = (int) Math.rint(Math.max(0f, Math.min(255f, 0f - lo / scale)));
            Tensor y = ctx.allocate(DType.UINT8, x.shape());
            quantize(x, 0, y, 0, x.size(), scale, zp, Precision.FLOAT);
            Tensor ys = ctx.allocate(DType.FLOAT, Shape.scalar());
            ys.data().setAtIndex(Tensor.F32, 0, scale);
            Tensor yz = ctx.allocate(DType.UINT8, Shape.scalar());
            yz.data().set(ValueLayout.JAVA_BYTE, 0, (byte) zp);
            Tensor[] out = outputs.get(y, ys, yz);
            return out != null ? out : outputs.put(y, ys, yz, new Tensor[] {y, ys, yz});
        }, DType.UINT8, DType.FLOAT, DType.UINT8);
    }

    /**
     * min and max of the n floats from element {@code from} of x, packed in one long (read them with {@link #lo} and
     * {@link #hi}, so that nothing is allocated); +inf and -inf when n is 0. NaN elements are skipped (a
     * compare-and-blend per lane, four independent accumulators: Java's min/max with their NaN and signed-zero rules
     * cost several times more).
     */
    static long minMax(MemorySegment x, long from, long n) {
        FloatVector lo0 = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
        FloatVector lo1 = lo0;
        FloatVector hi0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        FloatVector hi1 = hi0;
        long i = 0;
        for (; i <= n - 2 * VL; i += 2 * VL) {
            FloatVector v0 = FloatVector.fromMemorySegment(S, x, (from + i) * 4, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(S, x, (from + i + VL) * 4, LE);
            lo0 = lo0.blend(v0, v0.lt(lo0));
            hi0 = hi0.blend(v0, v0.compare(VectorOperators.GT, hi0));
            lo1 = lo1.blend(v1, v1.lt(lo1));
            hi1 = hi1.blend(v1, v1.compare(VectorOperators.GT, hi1));
        }
        lo0 = lo0.blend(lo1, lo1.lt(lo0));
        hi0 = hi0.blend(hi1, hi1.compare(VectorOperators.GT, hi0));
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        for (int l = 0; l < VL; l++) {
            lo = Math.min(lo, lo0.lane(l));
            hi = Math.max(hi, hi0.lane(l));
        }
        for (; i < n; i++) {
            float v = x.getAtIndex(Tensor.F32, from + i);
            if (v < lo) {
                lo = v;
            }
            if (v > hi) {
                hi = v;
            }
        }
        return (long) Float.floatToRawIntBits(lo) << 32 | Float.floatToRawIntBits(hi) & 0xffffffffL;
    }

    /** The min of a {@link #minMax} result. */
    static float lo(long minMax) {
        return Float.intBitsToFloat((int) (minMax >>> 32));
    }

    /** The max of a {@link #minMax} result. */
    static float hi(long minMax) {
        return Float.intBitsToFloat((int) minMax);
    }

    // ---------------------------------------------------------------- granularity

    /** How a node's scale maps onto x: the axis and block size attributes, checked against shapes per run. */
    private record Granularity(long axis, long blockSize) {
        static Granularity of(NodeSpec node) {
            long axis = node.opset() >= 13 ? node.attrs().getInt("axis", 1) : 1;
            long bs = node.opset() >= 21 ? node.attrs().getInt("block_size", 0) : 0;
            if (bs < 0) {
                throw node.unsupported("block_size " + bs + " (must be >= 0)");
            }
            return new Granularity(axis, bs);
        }

        /** As {@link #runs(NodeSpec, Shape, Tensor, Tensor)}, kept in {@code memo} per shape of x, scale and zero point. */
        Runs runs(NodeSpec node, Shape xs, Tensor s, Tensor z, Memo<Runs> memo) {
            Shape zs = z == null ? null : z.shape();
            Runs r = memo.get(xs, s.shape(), zs);
            return r != null ? r : memo.put(xs, s.shape(), zs, runs(node, xs, s, z));
        }

        Runs runs(NodeSpec node, Shape xs, Tensor s, Tensor z) {
            if (z != null && !z.shape().equals(s.shape())) {
                throw node.error("zero point " + z.shape() + " and scale " + s.shape() + " differ in shape");
            }
            if (s.size() == 1 && blockSize == 0) {
                return new Runs(1, xs.size(), 1, 1, false);
            }
            int r = xs.rank();
            long ax = axis < 0 ? axis + r : axis;
            if (ax < 0 || ax >= r) {
                throw node.error("axis " + axis + " is out of range for x " + xs);
            }
            long outer = 1;
            for (int d = 0; d < ax; d++) {
                outer *= xs.dim(d);
            }
            long dim = xs.dim((int) ax);
            long inner = xs.size() / Math.max(1, outer * dim);
            if (blockSize == 0) {
                if (s.shape().rank() != 1 || s.size() != dim) {
                    throw node.error("per-axis scale " + s.shape() + " must be 1-D of x's dim " + dim + " (x " + xs + ", axis " + axis + ")");
                }
                return new Runs(outer, inner, dim, 1, false);
            }
            long blocks = (dim + blockSize - 1) / blockSize;
            boolean ok = s.shape().rank() == r;
            for (int d = 0; ok && d < r; d++) {
                ok = s.shape().dim(d) == (d == ax ? blocks : xs.dim(d));
            }
            if (!ok) {
                throw node.error("blocked scale " + s.shape() + " does not fit x " + xs + " with axis " + axis + ", block_size " + blockSize);
            }
            return new Runs(outer, inner, dim, blockSize, true);
        }
    }

    /**
     * x as [outer, dim, inner]: run {@code q} covers the inner elements of (o, d) = (q / dim, q % dim); its scale is
     * at {@code o * dim + d} per axis (0 per tensor), and blocked at {@code (o * blocks + d / block) * inner + e}.
     */
    private record Runs(long outer, long inner, long dim, long block, boolean blocked) {
        long count() {
            return outer * dim;
        }

        long scaleIndex(long run, long e) {
            if (dim == 1 && !blocked) {
                return 0;
            }
            long o = run / dim;
            long d = run % dim;
            if (!blocked) {
                return d;
            }
            long blocks = (dim + block - 1) / block;
            return (o * blocks + d / block) * inner + e;
        }
    }
}
